"""nn: neural networks built from autograd_core's differentiable ops.

Every layer, loss and optimizer here is an ordinary composition of Tensor ops, so each forward
has a gradient (and a second one) without hand-written backward code.
"""

# Where things are: module.py (Module, Parameter, containers), layers.py (dense layers and
# activations), convolution.py, normalization.py, embedding.py, attention.py (the layers of CNNs
# and transformers), losses.py, optim.py, schedules.py, data.py, training.py (fit), serialization.py
# (save/load), onnx_export.py (export to ONNX), viz.py (pictures), gradient_flow.py (watching
# gradients during fit); distributed.py (MPI) is imported on its own: nn.distributed.
from . import data, functional, init, optim, schedules, serialization, training
from .attention import MultiHeadAttention, TransformerLM, transformer_block
from .convolution import AvgPool2d, Conv1d, Conv2d, MaxPool2d
from .data import DataLoader, batches, train_val_split
from .embedding import Embedding
from .gradient_flow import GradientFlow
from .layers import (
    GELU,
    Dense,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    ReLU,
    Residual,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .losses import (
    binary_cross_entropy_with_logits,
    categorical_cross_entropy,
    cross_entropy,
    half_mse_loss,
    huber_loss,
    l1_penalty,
    l2_penalty,
    mse_loss,
    nll_loss,
)
from .module import HookHandle, Module, ModuleList, Parameter, Sequential
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .onnx_export import export_onnx
from .optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSProp,
    clip_grad_norm_,
    clip_grad_value_,
)
from .schedules import CosineDecay, ExponentialDecay, InverseTimeDecay, Schedule, StepDecay
from .serialization import load, load_checkpoint, save, save_checkpoint
from .training import History, accuracy, evaluate, fit, predict
from .viz import draw_network, record_modules

__all__ = [
    "accuracy", "Adagrad", "Adam", "AdamW", "batches", "binary_cross_entropy_with_logits",
    "categorical_cross_entropy", "clip_grad_norm_", "clip_grad_value_", "CosineDecay",
    "cross_entropy", "data", "DataLoader", "Dense", "draw_network", "Dropout", "evaluate",
    "ExponentialDecay", "fit", "Flatten", "functional", "half_mse_loss", "History", "HookHandle",
    "huber_loss", "Identity", "init", "InverseTimeDecay", "l1_penalty", "l2_penalty", "LeakyReLU",
    "load", "load_checkpoint", "Module", "ModuleList", "mse_loss", "nll_loss", "optim",
    "Optimizer", "Parameter", "predict", "record_modules", "ReLU", "RMSProp", "save",
    "save_checkpoint", "Schedule", "schedules", "Sequential", "serialization", "SGD", "Sigmoid",
    "Softmax", "StepDecay", "Tanh", "train_val_split", "training",
    "Embedding", "GELU", "LayerNorm", "MultiHeadAttention", "Residual", "SiLU", "Softplus",
    "TransformerLM", "transformer_block",
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "MaxPool2d",
    "export_onnx",
    "GradientFlow",
]
