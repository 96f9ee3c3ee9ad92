"""Project configuration: ``mlpilot.toml`` parsed into frozen, typed settings.

Precedence, lowest first: built-in defaults < the project file < ``MLPILOT_<SECTION>__<KEY>``
environment variables < overrides passed in (CLI flags). Nothing is read at import time:
call :func:`load_settings` and pass the result on.
"""

from mlpilot.config._durations import parse_duration
from mlpilot.config._loader import PROJECT_FILE, find_project_dir, load_settings
from mlpilot.config._models import (
    DEFAULT_THRESHOLDS,
    AlertSettings,
    AnalysisSettings,
    AutopilotSettings,
    CiSettings,
    DataSettings,
    DriftSettings,
    FeatureDriftRule,
    GateSettings,
    MonitorSettings,
    OperationalSettings,
    PerformanceSettings,
    PipelineSettings,
    ProjectSettings,
    QualitySettings,
    ReleaseSettings,
    ServeSettings,
    Settings,
    SliceRule,
    StoreSettings,
    TrainSettings,
    TriggerSettings,
    ValidateSettings,
    VsChampion,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "PROJECT_FILE",
    "AlertSettings",
    "AnalysisSettings",
    "AutopilotSettings",
    "CiSettings",
    "DataSettings",
    "DriftSettings",
    "FeatureDriftRule",
    "GateSettings",
    "MonitorSettings",
    "OperationalSettings",
    "PerformanceSettings",
    "PipelineSettings",
    "ProjectSettings",
    "QualitySettings",
    "ReleaseSettings",
    "ServeSettings",
    "Settings",
    "SliceRule",
    "StoreSettings",
    "TrainSettings",
    "TriggerSettings",
    "ValidateSettings",
    "VsChampion",
    "find_project_dir",
    "load_settings",
    "parse_duration",
]
