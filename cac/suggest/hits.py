"""The working record of one candidate code while a document is coded."""

from __future__ import annotations

from dataclasses import dataclass, field

from cac.types import Alternative, Evidence, Excluded, Suggestion


MAX_EVIDENCE = 25  # a code mentioned a thousand times needs no thousand spans


@dataclass
class Hit:
    code: str
    system: str
    title: str
    score: float
    evidence: list[Evidence] = field(default_factory=list)
    rationale: list[str] = field(default_factory=list)
    matched: str = ""
    alternatives: list[Alternative] = field(default_factory=list)
    uncertain: bool = False
    held_back: bool = False  # a code a rule removed, kept as a low-ranked candidate for override

    def merge(self, other: "Hit") -> None:
        """Noisy-or of the two scores; evidence (up to ``MAX_EVIDENCE`` spans) and rationale pooled."""
        self.score = 1 - (1 - self.score) * (1 - other.score * 0.3)
        if len(self.evidence) < MAX_EVIDENCE:
            have = {(e.start, e.end) for e in self.evidence}
            new = [e for e in other.evidence if (e.start, e.end) not in have]
            self.evidence.extend(new[: MAX_EVIDENCE - len(self.evidence)])
        self.rationale.extend(r for r in other.rationale if r not in self.rationale)
        self.uncertain = self.uncertain and other.uncertain

    def to_suggestion(self) -> Suggestion:
        return Suggestion(
            code=self.code,
            system=self.system,
            title=self.title,
            confidence=max(0.0, min(1.0, self.score)),
            evidence=sorted(self.evidence, key=lambda e: e.start),
            rationale=self.rationale,
            alternatives=self.alternatives,
            flags={"held_back": True} if self.held_back else {},
        )

    def to_excluded(self, reason: str, rule: str, replaced_by: str | None = None) -> Excluded:
        return Excluded(self.code, self.system, self.title, reason, rule, list(self.evidence), replaced_by, self.score)
