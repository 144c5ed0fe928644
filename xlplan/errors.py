"""Problems that stop a run and are told to the user, in Japanese or English.

The CLI prints such an error and exits 2; the Excel panel writes it to its message cell. Both
show ``str(error)``, which is in the language of the moment (``--lang`` / XLPLAN_LANG)."""

from __future__ import annotations


class XlplanError(Exception):
    """A stop with a message for the user, given in Japanese and English."""

    def __init__(self, ja: str, en: str):
        super().__init__(ja)
        self.ja, self.en = ja, en

    def __str__(self) -> str:
        from .findings import current_lang

        return self.en if current_lang() == "en" else self.ja
