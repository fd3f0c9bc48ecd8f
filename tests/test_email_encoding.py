"""Each copy's body is the edition's body with that subscriber's values, byte for byte.

The edition's quoted-printable is made once and joined with each copy's encoded values;
decoded, a copy must read exactly as if the whole filled-in body had been encoded.
"""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

from hypothesis import example, given, settings
from hypothesis import strategies as st

from syndicate.render.email import TOKENS, Recipient, RenderedEdition, _fill, personalize

BODY_TEXT = (
    "Kabar pagi\n\n{greeting}\n\n"
    + "Sebuah kalimat panjang tentang harga cabai. " * 12
    + "\nBerhenti berlangganan: {unsubscribe}\nDikirim ke {recipient}\n"
)


def edition(text: str, html_body: str) -> RenderedEdition:
    return RenderedEdition(subject="Kabar pagi", html=html_body, text=text, timezone="Asia/Jakarta")


def with_tokens(template: str) -> str:
    return template.format(
        greeting=TOKENS["greeting"],
        unsubscribe=TOKENS["unsubscribe_url"],
        recipient=TOKENS["recipient"],
    )


def lines(text: str) -> str:
    """Line ends as an email has them, whatever the source wrote (CR, LF or CRLF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=40)
paths = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1, max_size=200)


@settings(max_examples=60, deadline=None)
@given(name=names, path=paths, filler=st.text(min_size=0, max_size=300))
# Found by this test: a value whose last encoded line was 76 long, then its soft break.
@example(name="00¡¡¡𐀀𐀀𐀀𐀀", path="0", filler="")
def test_a_copy_decodes_to_the_filled_in_body(name: str, path: str, filler: str) -> None:
    text = with_tokens(BODY_TEXT) + filler.replace("\r", "")
    html_body = (
        "<html><body><p>"
        + with_tokens("{greeting}")
        + "</p><p>"
        + filler
        + "</p>"
        + '<a href="'
        + TOKENS["unsubscribe_url"]
        + '">x</a> '
        + TOKENS["recipient"]
        + "</body></html>"
    )
    rendered = edition(text, html_body)
    url = f"https://kabar.example.org/unsubscribe/{path}"
    message = personalize(
        rendered,
        recipient=Recipient("sari@example.org", name),
        sender="Kabar Pilihan <redaksi@example.org>",
        list_id="Kabar Pilihan <newsletter.example.org>",
        message_id="syn.e1.abc@example.org",
        date=datetime(2026, 11, 26, tzinfo=UTC),
        unsubscribe_url=url,
        view_url=None,
    )
    parsed = email.message_from_bytes(message.data, policy=policy.default)
    body = message.data.split(b"\r\n\r\n", 1)[1]
    assert all(len(line) <= 76 for line in body.split(b"\r\n")), "a body line over 76"
    greeting = (
        rendered.greeting.replace("{name}", " ".join(name.split()))
        if name.strip()
        else rendered.greeting_anonymous
    )
    fills = {
        TOKENS["unsubscribe_url"]: url,
        TOKENS["view_url"]: "",
        TOKENS["greeting"]: greeting,
        TOKENS["recipient"]: "sari@example.org",
    }
    expected_text = lines(_fill(text, fills, None, escape=False))
    expected_html = lines(_fill(html_body, fills, None, escape=True))
    plain = lines(parsed.get_body(("plain",)).get_content())
    shown = lines(parsed.get_body(("html",)).get_content())
    assert plain.rstrip("\n") == expected_text.rstrip("\n")
    assert shown.rstrip("\n") == expected_html.rstrip("\n")
