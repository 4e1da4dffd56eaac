"""The typed option set (SPEC §2): one declaration, three forms (file, environment, CLI)."""

from rlops.options.fields import OptionSpec, option_specs
from rlops.options.resolve import ResolvedOptions, resolve_options
from rlops.options.schema import Options

__all__ = ["OptionSpec", "Options", "ResolvedOptions", "option_specs", "resolve_options"]
