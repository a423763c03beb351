"""Who is reading: a user signed in (password or identity provider), or demo mode.

With no users configured (`ime user add` creates the first), the app runs in demo mode with
full access and says so on every page. Otherwise nothing is shown before sign-in, and the
signed-in user's scope (access.auth.scope_for) is the one every query runs under.
"""

from __future__ import annotations

import streamlit as st

from access import auth
from queries import FULL_ACCESS, Scope

SESSION_KEY = "signed_in_user"
DEMO_USERNAME = "demo"


def user() -> auth.User | None:
    """The signed-in user of this browser session, if any."""
    return st.session_state.get(SESSION_KEY)


def scope() -> Scope:
    """The access scope of this session: the user's, or full access in demo mode."""
    current = user()
    return auth.scope_for(current) if current else FULL_ACCESS


def username() -> str:
    """The name the audit log records for this session."""
    current = user()
    return current.username if current else DEMO_USERNAME


def _oidc_configured() -> bool:
    """True when .streamlit/secrets.toml names an identity provider ([auth] section)."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:
        return False


def _client_address() -> str | None:
    """The browser's address for the sign-in rate limit (None on localhost: 'unknown').

    Behind a reverse proxy every browser may show the proxy's address; the limits per
    username (access.auth.verify) hold regardless.
    """
    return st.context.ip_address


def _password_form() -> None:
    with st.form("sign_in"):
        name = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    result = auth.verify(name, password, address=_client_address())
    if result.ok:
        st.session_state[SESSION_KEY] = result.user
        st.rerun()
    elif result.outcome == "locked":
        st.error(f"Too many failed attempts. Try again in {result.retry_after_s} seconds.")
    else:
        st.error("Wrong username or password.")


def _oidc() -> None:
    if not st.user.is_logged_in:
        st.button("Sign in with your organisation", on_click=st.login, type="primary")
        return
    result = auth.oidc_sign_in(st.user.to_dict())
    if result.ok:
        st.session_state[SESSION_KEY] = result.user
        st.rerun()
    st.error(
        "Your organisation account is not configured for this dashboard. Ask an administrator."
    )
    st.button("Sign out", on_click=st.logout)


def _sign_out() -> None:
    st.session_state.pop(SESSION_KEY, None)
    if _oidc_configured() and st.user.is_logged_in:
        st.logout()


def gate() -> bool:
    """Show who is signed in (or the sign-in form); True when the page may be shown."""
    if auth.demo_mode():
        st.info(
            "Demo mode: no users are configured, so everyone sees everything as a regulator "
            "would. Add users with `ime user add` to require sign-in.",
            icon=":material/info:",
        )
        return True
    current = user()
    if current is not None:
        scope_words = f" ({', '.join(current.insurer_ids)})" if current.insurer_ids else ""
        st.sidebar.caption(f"Signed in as **{current.username}**, {current.role}{scope_words}.")
        st.sidebar.button("Sign out", on_click=_sign_out)
        return True
    st.title("IME outcomes")
    st.write("Sign in to see the figures your role allows.")
    if _oidc_configured():
        _oidc()
    _password_form()
    return False
