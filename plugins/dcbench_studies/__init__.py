"""The seed paper's tables as studies (``dcbench reproduce``), written as any third party's would be.

Each study is a YAML file beside this module, loaded the first time its name is asked for.
"""

from __future__ import annotations

from pathlib import Path

from dcbench import Study

NAMES = ("table1", "table2", "table3", "ablation_activation", "ablation_pooling", "ablation_normalization",
         "ablation_depth", "ablation_width")
_LOADED: dict[str, Study] = {}


def __getattr__(name: str) -> Study:
    if name not in NAMES:
        raise AttributeError(name)
    if name not in _LOADED:
        _LOADED[name] = Study.from_yaml(Path(__file__).with_name(f"{name}.yaml"))
    return _LOADED[name]
