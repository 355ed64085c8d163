"""Reading nats-server's answer to a SIGHUP from its log: only our PID's whole lines count."""

from bosh_py.mbus.server import _reload_outcome, reload_timeout

OK = "[42] 2026/12/01 09:27:29.271860 [INF] Reloaded server configuration (sha256:105c)\n"
REFUSED = ("[42] 2026/12/01 09:27:29.271860 [ERR] Failed to reload server configuration: "
           "config reload not supported for Port: old=4222, new=4223\n")


def test_our_confirmation_or_refusal_is_read():
    assert _reload_outcome("[42] ... [INF] Reloaded: authorization users\n" + OK, 42) == ""
    assert _reload_outcome(REFUSED, 42) == "config reload not supported for Port: old=4222, new=4223"


def test_another_process_a_partial_line_or_nothing_yet_is_no_answer():
    assert _reload_outcome(OK.replace("[42]", "[7]"), 42) is None  # an older server's line
    assert _reload_outcome(OK.rstrip("\n"), 42) is None  # still being written
    assert _reload_outcome(REFUSED[:60], 42) is None  # a reason cut short is never reported
    assert _reload_outcome("[42] ... [INF] Reloaded: accounts\n", 42) is None


def test_the_wait_grows_with_the_agents():
    assert reload_timeout(0) == 5.0
    assert reload_timeout(100) == 15.0
