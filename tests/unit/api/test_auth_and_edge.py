"""Bearer tokens and correlation ids."""

from __future__ import annotations

from pydantic import SecretStr

from workers.api.auth import TokenCheck, load_tokens
from workers.api.edge import correlation_id
from workers.api.settings import ApiSettings


def test_any_configured_token_opens_and_nothing_else_does(tmp_path):
    secret = tmp_path / "tokens"
    secret.write_text("from-file\n\n")
    check = TokenCheck(
        load_tokens(ApiSettings(tokens=[SecretStr("one"), SecretStr("two")], tokens_file=secret))
    )
    assert check.allows("Bearer one") and check.allows("bearer two") and check.allows("Bearer from-file")
    for refused in (None, "", "Bearer", "Bearer ", "Bearer on", "Bearer one1", "Basic one", "one"):
        assert not check.allows(refused), refused
    assert not TokenCheck([]).allows("Bearer ")
    assert not TokenCheck([])


def test_correlation_ids_are_kept_when_sane_and_replaced_otherwise():
    assert correlation_id("order-42:a.b") == "order-42:a.b"
    for junk in (None, "", "x" * 129, "has space", "new\nline", "<script>"):
        made = correlation_id(junk)
        assert made.startswith("api-") and len(made) == 28
