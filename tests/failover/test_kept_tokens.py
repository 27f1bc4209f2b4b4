"""Tokens the server vouched for survive an agent restart (relay and /metrics while the server is down)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fleetyard.agent.relay import TokenCache, TokenCheckUnavailable


def test_vouched_tokens_are_kept_across_restarts_and_dropped_when_refused(tmp_path: Path) -> None:
    kept = tmp_path / "state" / "vouched-tokens.json"
    answers = {"a": True, "b": False}
    down = {"now": False}

    def ask(token: str) -> bool:
        if down["now"]:
            raise TokenCheckUnavailable("down")
        return answers[token]

    first = TokenCache(ask, kept=kept)
    assert first.allowed("a") and not first.allowed("b")
    assert json.loads(kept.read_text()) == [hashlib.sha256(b"a").hexdigest()]  # digests only, never the token
    down["now"] = True
    restarted = TokenCache(ask, kept=kept)
    assert restarted.allowed("a")  # vouched for before the restart
    with pytest.raises(TokenCheckUnavailable):
        restarted.allowed("b")
    down["now"], answers["a"] = False, False  # revoked
    assert not TokenCache(ask, kept=kept).allowed("a")
    down["now"] = True
    with pytest.raises(TokenCheckUnavailable):
        TokenCache(ask, kept=kept).allowed("a")
    kept.write_text("{not json")
    with pytest.raises(TokenCheckUnavailable):  # an unreadable file is no vouching
        TokenCache(ask, kept=kept).allowed("a")
