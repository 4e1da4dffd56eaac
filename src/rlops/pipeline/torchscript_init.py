"""Offline to online: an offline model's exported network as the first weights of an online run.

An offline checkpoint holds no state dict, only d3rlpy's TorchScript graph of the greedy policy.
Its weights are the graph's tensor constants, and its architecture is the chain of ``aten::linear``
calls and the activations between them. Whether they can seed the online network depends on what
the offline network computes, not on its shapes alone:

- DiscreteCQL's graph ends in action values (a mean over critics, then argmax): it can become a
  DQN's Q-network (and its target), and nothing else. An actor's logits are not action values.
- DiscreteBC's graph ends in action logits (log-softmax, then argmax): it can become the actor of
  a PPO or A2C run, SB3's or the vector engine's. The critic starts fresh.
- The continuous algorithms' graphs hold only the actor's mean and d3rlpy's action scaling. No
  online actor here is loaded from them.

When the pairing is allowed, every layer's shape and every activation must match. Otherwise the run
is refused before it trains, with both architectures named and the options that would make them
match. The offline network read raw observations, so ``obs.normalize`` is refused as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rlops.errors import IncompatibleChoiceError
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.torchscript_policy import load_graph

ACTIVATIONS = {"aten::relu": "relu", "aten::tanh": "tanh", "aten::elu": "elu", "aten::leaky_relu": "leaky_relu",
               "aten::relu_": "relu", "aten::tanh_": "tanh"}
MODULE_ACTIVATIONS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.ELU: "elu", nn.LeakyReLU: "leaky_relu"}
# What each offline algorithm's exported graph computes, and the online algorithms that compute the same.
OUTPUTS = {"discrete_cql": "action values", "discrete_bc": "action logits"}
TARGETS = {"action values": ("dqn",), "action logits": ("ppo", "a2c")}
ROLES = {"dqn": "Q-network", "ppo": "actor", "a2c": "actor", "sac": "actor", "td3": "actor"}


@dataclass(frozen=True)
class Layer:
    weight: torch.Tensor
    bias: torch.Tensor | None
    activation: str | None  # applied to this layer's output; None after the last

    @property
    def shape(self) -> str:
        return f"{self.weight.shape[1]}->{self.weight.shape[0]}"


def describe(layers: list[Layer]) -> str:
    """``4 -> 256 -> 256 -> 2 (relu)``: the sizes and the hidden activations."""
    sizes = [str(layers[0].weight.shape[1])] + [str(layer.weight.shape[0]) for layer in layers]
    hidden = sorted({layer.activation for layer in layers[:-1] if layer.activation})
    return " -> ".join(sizes) + (f" ({', '.join(hidden)})" if hidden else "")


def offline_algorithm(checkpoint: Checkpoint) -> str:
    offline = checkpoint.manifest.get("offline") or {}
    return str(offline.get("algorithm") or checkpoint.options.get("agent", {}).get("algorithm"))


def exported_layers(checkpoint: Checkpoint) -> list[Layer]:
    """The linear layers of an exported policy, in order, as one chain from the input: anything else
    (an ensemble of critics, an encoder with convolutions) is refused, naming what was found."""
    graph = load_graph(checkpoint).graph
    constants: dict[str, torch.Tensor] = {}
    inputs = [value.debugName() for value in graph.inputs()][1:]  # the first is the module itself
    layers: list[Layer] = []
    chain_end = inputs[0] if inputs else None
    for node in graph.nodes():
        kind = node.kind()
        if kind == "prim::Constant" and node.output().type().kind() == "TensorType":
            constants[node.output().debugName()] = node.output().toIValue()
        elif kind == "aten::linear":
            x, weight, bias = (value.debugName() for value in node.inputs())
            if x != chain_end or weight not in constants:
                raise IncompatibleChoiceError(
                    f"train.init_from {checkpoint.path}: its network is not one chain of linear layers "
                    f"(layer {len(layers) + 1} does not follow the one before: an ensemble of critics?)",
                    hint="warm-start from an offline model trained with one critic and d3rlpy's default encoder")
            layers.append(Layer(constants[weight], constants.get(bias), None))
            chain_end = node.output().debugName()
        elif kind in ACTIVATIONS and layers and next(node.inputs()).debugName() == chain_end:
            last = layers[-1]
            layers[-1] = Layer(last.weight, last.bias, ACTIVATIONS[kind])
            chain_end = node.output().debugName()
        elif kind.startswith("aten::conv"):
            raise IncompatibleChoiceError(f"train.init_from {checkpoint.path}: its network has convolutions; "
                                          "only an MLP's layers are loaded into an online run")
    if not layers:
        raise IncompatibleChoiceError(f"train.init_from {checkpoint.path}: no linear layers in its exported graph")
    return layers


def _linears(sequence: nn.Module) -> list[tuple[nn.Linear, str | None]]:
    """(Linear, the activation after it) for an MLP built as one nn.Sequential, or [] if it is not one."""
    found: list[tuple[nn.Linear, str | None]] = []
    for module in sequence.children() if isinstance(sequence, nn.Sequential) else [sequence]:
        if isinstance(module, nn.Linear):
            found.append((module, None))
        elif type(module) in MODULE_ACTIVATIONS and found:
            found[-1] = (found[-1][0], MODULE_ACTIVATIONS[type(module)])
    return found


def _describe_target(linears: list[tuple[nn.Linear, str | None]]) -> str:
    return describe([Layer(linear.weight, linear.bias, activation) for linear, activation in linears])


def _check_pairing(checkpoint: Checkpoint, options: Options) -> str:
    source = offline_algorithm(checkpoint)
    output = OUTPUTS.get(source)
    target = options.agent.algorithm
    if output is None:
        raise IncompatibleChoiceError(
            f"train.init_from {checkpoint.path} is an offline {source} policy: its exported graph holds only the "
            "actor's mean and d3rlpy's action scaling, which no online actor here is loaded from",
            hint="warm-start online runs from discrete_cql (into dqn) or discrete_bc (into ppo or a2c) models")
    if target not in TARGETS[output]:
        network = "Q-network" if output == "action values" else "policy"
        raise IncompatibleChoiceError(
            f"train.init_from {checkpoint.path}: an offline {source} {network} outputs {output}, so it can't "
            f"initialise a {target.upper()} {ROLES.get(target, 'network')}",
            hint=f"warm-start a {' or '.join(TARGETS[output])} run from it (--agent.algorithm "
                 f"{TARGETS[output][0]})")
    if options.obs.normalize in ("obs", "all"):
        raise IncompatibleChoiceError(
            f"train.init_from {checkpoint.path}: the offline network learnt from raw observations and "
            f"obs.normalize {options.obs.normalize} would feed it scaled ones",
            hint="train with --obs.normalize none (or reward)")
    return source


def _load(source_layers: list[Layer], linears: list[tuple[nn.Linear, str | None]], checkpoint: Checkpoint,
          what: str, hint: str) -> None:
    there, here = describe(source_layers), _describe_target(linears)
    problem = None
    if len(source_layers) != len(linears):
        problem = f"{len(source_layers)} linear layers there, {len(linears)} here"
    else:
        for index, (layer, (linear, activation)) in enumerate(zip(source_layers, linears, strict=True), 1):
            if tuple(layer.weight.shape) != tuple(linear.weight.shape):
                problem = f"layer {index} is {layer.shape} there, {linear.in_features}->{linear.out_features} here"
                break
            if index < len(linears) and layer.activation != activation:
                problem = f"layer {index} is followed by {layer.activation} there, {activation} here"
                break
    if problem is not None:
        raise IncompatibleChoiceError(f"train.init_from {checkpoint.path}: its network ({there}) does not fit this "
                                      f"run's {what} ({here}): {problem}", hint=hint)
    with torch.no_grad():
        for layer, (linear, _) in zip(source_layers, linears, strict=True):
            linear.weight.copy_(layer.weight)
            if linear.bias is not None:
                linear.bias.copy_(layer.bias if layer.bias is not None else torch.zeros_like(linear.bias))


def _hint(layers: list[Layer], activation_option: str) -> str:
    hidden = [int(layer.weight.shape[0]) for layer in layers[:-1]]
    activations = sorted({layer.activation for layer in layers[:-1] if layer.activation})
    return f"train with --agent.net-arch '{hidden}'" + (f" and {activation_option.format(activations[0])}"
                                                         if activations else "")


SB3_ACTIVATION = "--agent.hyperparams '{{\"policy_kwargs\": {{\"activation_fn\": \"{}\"}}}}'"
VECTOR_ACTIVATION = "--agent.hyperparams '{{\"activation\": \"{}\"}}'"


def warm_start_sb3(model, checkpoint: Checkpoint, options: Options) -> None:
    """Load an offline model's network into a freshly built SB3 model, or refuse saying why not."""
    source = _check_pairing(checkpoint, options)
    layers = exported_layers(checkpoint)
    policy = model.policy
    extractor = getattr(policy, "features_extractor", None)
    if extractor is None:  # DQN's sits in its Q-network
        extractor = getattr(getattr(policy, "q_net", None), "features_extractor", None)
    if extractor is not None and any(True for _ in extractor.parameters()):
        raise IncompatibleChoiceError(f"train.init_from {checkpoint.path}: this run's policy has a learnt feature "
                                      f"encoder ({type(extractor).__name__}); the offline {source} network is an MLP "
                                      "on the raw observation",
                                      hint="train with the default MLP policy (no feature.encoder)")
    hint = _hint(layers, SB3_ACTIVATION)
    if options.agent.algorithm == "dqn":
        _load(layers, _linears(policy.q_net.q_net), checkpoint, "DQN Q-network", hint)
        policy.q_net_target.load_state_dict(policy.q_net.state_dict())
        return
    linears = _linears(policy.mlp_extractor.policy_net) + _linears(policy.action_net)
    _load(layers, linears, checkpoint, f"{options.agent.algorithm.upper()} actor", hint)


def warm_start_vector(policy: nn.Module, checkpoint: Checkpoint, options: Options) -> None:
    """Load an offline policy into the vector engine's actor (``ActorCritic.actor``), or refuse saying why not."""
    _check_pairing(checkpoint, options)
    layers = exported_layers(checkpoint)
    _load(layers, _linears(policy.actor), checkpoint, f"vector {options.agent.algorithm.upper()} actor",
          _hint(layers, VECTOR_ACTIVATION))
