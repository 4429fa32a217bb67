"""GANs on minigan: the objectives, the models, Algorithm 1, sampling and evaluation."""
from .losses import (  # noqa: F401
                     discriminator_loss,
                     generator_loss,
                     gradient_penalty,
                     jensen_shannon,
                     optimal_discriminator,
                     value_function,
                     virtual_training_criterion,
)
