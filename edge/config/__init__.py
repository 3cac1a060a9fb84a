"""The bed's configuration: one TOML file, validated up front.

Each section is a frozen dataclass; each field's metadata carries its
documentation and its allowed range, and one generic validator walks them, so
a new setting is one line here and one in ``examples/capleak.toml``. A problem
raises :class:`ConfigError` naming the key (``thresholds.hold_sbp_mmhg``) and
what is wrong; the CLI turns it into exit status 78 (``EX_CONFIG``) and one
paragraph, never a traceback.

Clinical numbers are configuration. Their defaults cite where they come from
(``shared/docs/clinical.md``); a site's clinicians set their own. capleak
supports a decision, it never makes one.
"""

from edge.config.loading import (
    check_private,
    config_from_dict,
    load_config,
    read_credentials,
    redact_url,
)
from edge.config.sections import (
    BedConfig,
    BrokerConfig,
    ClockConfig,
    CommandsConfig,
    Config,
    DeviceConfig,
    PatientConfig,
    PublishConfig,
    StorageConfig,
)
from edge.config.settings import EX_CONFIG, ConfigError, setting
from edge.config.thresholds import Thresholds

__all__ = [
    "EX_CONFIG",
    "BedConfig",
    "BrokerConfig",
    "ClockConfig",
    "CommandsConfig",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "PatientConfig",
    "PublishConfig",
    "StorageConfig",
    "Thresholds",
    "check_private",
    "config_from_dict",
    "load_config",
    "read_credentials",
    "redact_url",
    "setting",
]
