"""nn: neural networks built from autograd_core's differentiable ops.

Every layer, loss and optimizer here is an ordinary composition of Tensor ops, so each forward
has a gradient (and a second one) without hand-written backward code.
"""

from . import functional, init
from .module import HookHandle, Module, ModuleList, Parameter, Sequential

# ---- layers, losses (nn/layers.py, nn/losses.py) ------------------------------------------------
from .layers import Dense, Dropout, Flatten, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
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

# ---- optimizers and schedules (nn/optim.py, nn/schedules.py) ------------------------------------
from . import optim, schedules
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

# ---- data, training, saving (nn/data.py, nn/training.py, nn/serialization.py) -------------------
from . import data, serialization, training
from .data import DataLoader, batches, train_val_split
from .serialization import load, load_checkpoint, save, save_checkpoint
from .training import History, accuracy, evaluate, fit, predict

# ---- pictures (nn/viz.py) -----------------------------------------------------------------------
from .viz import draw_network, record_modules
