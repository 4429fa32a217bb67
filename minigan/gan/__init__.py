"""GANs on minigan: the objectives, the models, Algorithm 1, sampling and evaluation."""
from .losses import (discriminator_loss, generator_loss, gradient_penalty, jensen_shannon,  # noqa: F401
                     optimal_discriminator, value_function, virtual_training_criterion)
