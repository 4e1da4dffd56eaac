"""Feature: the encoder between observations and the policy's hidden layers.

Each encoder is an SB3 ``BaseFeaturesExtractor``; ``encoder_kwargs`` turns the Feature options
into the ``policy_kwargs`` fragment the algorithm takes, after checking that the encoder fits the
observation space.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN

from rlops.errors import IncompatibleChoiceError, UnknownNameError, UsageError
from rlops.options.schema import FeatureOptions

ENCODERS = ("auto", "mlp", "cnn", "transformer")


class MlpEncoder(BaseFeaturesExtractor):
    """Flatten, then one linear layer with ReLU to ``features_dim``."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 64) -> None:
        super().__init__(observation_space, features_dim)
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(_flat_size(observation_space), features_dim),
                                       torch.nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(observations)


class TransformerEncoder(BaseFeaturesExtractor):
    """Self-attention over tokens of a vector observation, mean-pooled to ``features_dim``.

    With stacked frames the tokens are the frames (attention across time); otherwise each
    observation dimension is a token with a learned position embedding.
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 64, n_tokens: int | None = None,
                 n_heads: int = 4, n_layers: int = 2) -> None:
        super().__init__(observation_space, features_dim)
        size = _flat_size(observation_space)
        self.n_tokens = n_tokens or size
        self.token_size = size // self.n_tokens
        self.embed = torch.nn.Linear(self.token_size, features_dim)
        self.position = torch.nn.Parameter(torch.zeros(1, self.n_tokens, features_dim))
        layer = torch.nn.TransformerEncoderLayer(features_dim, n_heads, dim_feedforward=2 * features_dim,
                                                 dropout=0.0, batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        tokens = observations.reshape(observations.shape[0], self.n_tokens, self.token_size)
        return self.encoder(self.embed(tokens) + self.position).mean(dim=1)


def _flat_size(space: spaces.Space) -> int:
    return int(np.prod(space.shape))


def encoder_kwargs(options: FeatureOptions, observation_space: spaces.Space, stack_frames: int | None) -> dict[str, Any]:
    """The ``policy_kwargs`` fragment for the chosen encoder ({} keeps SB3's default)."""
    encoder = options.encoder
    dim_kwargs = {"features_dim": options.embed_dim} if options.embed_dim else {}
    if encoder == "auto":
        if options.embed_dim and is_image_space(observation_space, check_channels=False):
            return {"features_extractor_class": NatureCNN, "features_extractor_kwargs": dim_kwargs}
        return {}
    if ":" in encoder:
        return {"features_extractor_class": _import_encoder(encoder), "features_extractor_kwargs": dim_kwargs}
    if encoder not in ENCODERS:
        raise UnknownNameError("encoder", encoder, ENCODERS, hint="use auto, mlp, cnn, transformer or 'module:Class'")
    if encoder == "cnn":
        if not is_image_space(observation_space, check_channels=False):
            raise IncompatibleChoiceError(
                f"feature.encoder=cnn needs image observations (uint8, height x width x channels); "
                f"this env's observations are {_describe(observation_space)}",
                hint="use feature.encoder=mlp (or auto) for vector observations")
        return {"features_extractor_class": NatureCNN, "features_extractor_kwargs": dim_kwargs}
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
        raise IncompatibleChoiceError(
            f"feature.encoder={encoder} needs flat vector observations; this env's observations are "
            f"{_describe(observation_space)}",
            hint="use feature.encoder=cnn for images or auto for dictionaries")
    if encoder == "mlp":
        return {"features_extractor_class": MlpEncoder, "features_extractor_kwargs": dim_kwargs}
    dim = options.embed_dim or 64
    if dim % 4:
        raise IncompatibleChoiceError(f"feature.encoder=transformer uses 4 attention heads, so feature.embed_dim must "
                                      f"be a multiple of 4, not {dim}")
    return {"features_extractor_class": TransformerEncoder,
            "features_extractor_kwargs": {"features_dim": dim, "n_tokens": stack_frames}}


def _import_encoder(path: str) -> type[BaseFeaturesExtractor]:
    module_name, _, class_name = path.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"feature.encoder {path!r} cannot be imported: {exc}",
                         hint="give 'module:Class' of an importable stable_baselines3 BaseFeaturesExtractor") from None
    if not (isinstance(found, type) and issubclass(found, BaseFeaturesExtractor)):
        raise UsageError(f"feature.encoder {path!r} is not a subclass of stable_baselines3's BaseFeaturesExtractor")
    return found


def _describe(space: spaces.Space) -> str:
    if isinstance(space, spaces.Box):
        return f"Box of shape {space.shape} and dtype {space.dtype}"
    return type(space).__name__
