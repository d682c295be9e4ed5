"""Checks shared by every settings model.

``SettingsModel`` is the base of each ``FIREWATCH_<SECTION>__*`` model. It refuses ``inf`` and
``nan``, which pydantic otherwise reads as floats: an infinite timeout passes every ``gt=0``
and overflows later, in ``time`` or ``datetime`` arithmetic far from the setting, as a probe
failure or a crash instead of a message naming the variable.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["FINITE", "SettingsModel"]

FINITE = ConfigDict(allow_inf_nan=False)


class SettingsModel(BaseModel):
    """Base of every settings model: no ``inf`` or ``nan`` in any float field."""

    model_config = FINITE
