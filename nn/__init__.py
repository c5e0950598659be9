"""nn: neural networks built from autograd_core's differentiable ops.

Every layer, loss and optimizer here is an ordinary composition of Tensor ops, so each forward
has a gradient (and a second one) without hand-written backward code.
"""

# ---- optimizers and schedules (nn/optim.py, nn/schedules.py) ------------------------------------
# ---- data, training, saving (nn/data.py, nn/training.py, nn/serialization.py) -------------------
from . import data, functional, init, optim, schedules, serialization, training
from .attention import MultiHeadAttention, TransformerLM, transformer_block

# ---- convolution, pooling, normalisation (nn/convolution.py, nn/normalization.py) ---------------
from .convolution import AvgPool2d, Conv1d, Conv2d, MaxPool2d
from .data import DataLoader, batches, train_val_split
from .embedding import Embedding
from .layer_norm import LayerNorm

# ---- layers, losses (nn/layers.py, nn/losses.py) ------------------------------------------------
from .layers import (  # noqa: I001 - sequence models (issue 12)
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
from .normalization import BatchNorm1d, BatchNorm2d
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

# ---- pictures (nn/viz.py) -----------------------------------------------------------------------
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
    # sequence models (issue 12)
    "Embedding", "GELU", "LayerNorm", "MultiHeadAttention", "Residual", "SiLU", "Softplus",
    "TransformerLM", "transformer_block",
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "MaxPool2d",
]
