"""Neural-network layers, losses and optimizers built from autograd_core's differentiable ops.

Empty for now: the nn issue fills it in.
"""
