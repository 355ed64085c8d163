"""The haproxy job of releases/haproxy: its templates render (bosh-py's ERB renderer, as the
director runs it) a configuration the real haproxy accepts, with one router, two routers and
without a link; bad properties fail the render naming the property; its monit file is one the
agent supervises; its package runs on this host (the same .debs the VMs get)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bosh_py.agent.monit_classic import parse_classic
from bosh_py.release import RenderError

from .haproxy_support import for_this_host, render_job, router_link


def haproxy_check(install: Path, text: str, tmp_path: Path) -> str:
    """`haproxy -c` on a rendered configuration: its output, failing the test on any error
    or warning."""
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(for_this_host(text, tmp_path))
    result = subprocess.run([str(install / "bin" / "haproxy"), "-c", "-f", str(cfg)],
                            capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Configuration file is valid" in output, output
    assert "[WARNING]" not in output and "[ALERT]" not in output, output
    return output


def backend(text: str) -> list[str]:
    lines = text.split("backend http-routers\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in lines.splitlines() if not line.strip().startswith("#")]


def test_one_router_from_the_link(haproxy_install, tmp_path):
    files = render_job({}, {"router": router_link(["10.244.0.3"])})
    cfg = files["config/haproxy.cfg"]
    haproxy_check(haproxy_install, cfg, tmp_path)
    assert "  bind 0.0.0.0:80\n" in cfg
    lines = backend(cfg)
    assert [line for line in lines if line.startswith("server ")] == ["server router_0 10.244.0.3:80"]
    assert "default-server check port 8080 inter 1000ms fastinter 1000ms downinter 1000ms fall 2 rise 2" in lines
    assert {"option httpchk GET /health", "http-check expect status 200", "option redispatch 1",
            "retries 3", "retry-on conn-failure empty-response"} <= set(lines)
    assert "  bind 127.0.0.1:9000\n" in cfg and "stats auth" not in cfg  # stats: loopback only


def test_two_routers_with_their_link_ports_and_tuned_checks(haproxy_install, tmp_path):
    files = render_job({"ha_proxy": {"port": 8000, "health_check": {"interval_ms": 250, "fall": 3, "rise": 1},
                                     "retries": 5, "threads": 2, "access_log": False}},
                       {"router": router_link(["10.244.0.3", "10.244.0.4"], port=8081, status_port=8082)})
    cfg = files["config/haproxy.cfg"]
    haproxy_check(haproxy_install, cfg, tmp_path)
    lines = backend(cfg)
    assert [line for line in lines if line.startswith("server ")] == [
        "server router_0 10.244.0.3:8081", "server router_1 10.244.0.4:8081"]
    assert "default-server check port 8082 inter 250ms fastinter 250ms downinter 250ms fall 3 rise 1" in lines
    assert "retries 5" in lines and "  nbthread 2\n" in cfg and "option httplog" not in cfg
    assert "  bind 0.0.0.0:8000\n" in cfg


def test_backend_servers_without_a_link_and_tcp_checks(haproxy_install, tmp_path):
    files = render_job({"ha_proxy": {"backend_servers": ["10.0.0.7", "10.0.0.8"], "backend_port": 8888,
                                     "backend_use_http_health": False}})
    cfg = files["config/haproxy.cfg"]
    haproxy_check(haproxy_install, cfg, tmp_path)
    lines = backend(cfg)
    assert "server router_1 10.0.0.8:8888" in lines and not any("httpchk" in line for line in lines)
    assert "default-server check inter 1000ms fall 2 rise 2" in lines


def test_stats_password_is_quoted_for_haproxy(haproxy_install, tmp_path):
    password = 'p"a$s\\w:o rd#x'
    files = render_job({"ha_proxy": {"stats_bind": "0.0.0.0:9000", "stats_user": "stats",
                                     "stats_password": password}},
                       {"router": router_link(["10.244.0.3"])})
    cfg = files["config/haproxy.cfg"]
    haproxy_check(haproxy_install, cfg, tmp_path)
    assert '  stats auth "stats:p\\"a\\$s\\\\w:o rd#x"\n' in cfg


@pytest.mark.parametrize("properties, message", [
    ({}, "no routers to send traffic to: consume the 'router' link (releases/router) or set ha_proxy.backend_servers"),
    ({"ha_proxy": {"backend_servers": "10.0.0.7"}}, "ha_proxy.backend_servers: expected a list of addresses"),
    ({"ha_proxy": {"backend_servers": ["10.0.0.7; rm -rf /"]}}, "ha_proxy.backend_servers: expected a list of addresses"),
    ({"ha_proxy": {"backend_servers": ["10.0.0.7"], "stats_bind": "0.0.0.0:9000"}},
     ("ha_proxy.stats_bind 0.0.0.0:9000 is reachable from other machines: set ha_proxy.stats_user and "
      "ha_proxy.stats_password, or bind it to 127.0.0.1")),
    ({"ha_proxy": {"backend_servers": ["10.0.0.7"], "stats_user": "stats"}},
     "ha_proxy.stats_user and ha_proxy.stats_password go together"),
    ({"ha_proxy": {"backend_servers": ["10.0.0.7"], "stats_bind": "9000"}},
     "ha_proxy.stats_bind: expected ADDRESS:PORT"),
    ({"ha_proxy": {"backend_servers": ["10.0.0.7"], "health_check": {"fall": 0}}},
     "ha_proxy.health_check.fall: expected a positive integer"),
])
def test_bad_properties_fail_the_render_naming_them(properties, message):
    with pytest.raises(RenderError) as error:
        render_job(properties)
    assert "job 'haproxy' template 'haproxy.cfg.erb'" in str(error.value)
    assert message in str(error.value)


def test_monit_and_ctl_script():
    files = render_job({"ha_proxy": {"drain_timeout": 20}}, {"router": router_link(["10.244.0.3"])})
    (check,) = parse_classic("haproxy", files["monit"])
    assert check.pidfile == "/var/vcap/sys/run/haproxy/haproxy.pid"
    assert check.start.argv == ("/var/vcap/jobs/haproxy/bin/haproxy_ctl", "start")
    assert check.stop is not None and check.stop.argv == ("/var/vcap/jobs/haproxy/bin/haproxy_ctl", "stop")
    assert check.stop.timeout == 35  # the drain, and time to end
    ctl = files["bin/haproxy_ctl"]
    syntax = subprocess.run(["bash", "-n"], input=ctl, capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    assert "DRAIN_TIMEOUT=20\n" in ctl
    # haproxy runs as vcap with CAP_NET_BIND_SERVICE only, never as root.
    assert re.search(r"AS_VCAP=\(setpriv --reuid=vcap --regid=vcap .*\n.*--ambient-caps=\+net_bind_service "
                     r"--bounding-set=-all,\+net_bind_service\)", ctl)
    assert 'exec "${AS_VCAP[@]}" "$HAPROXY" -W -db -f "$CONFIG" -p "$PIDFILE"' in ctl


def test_the_package_runs_the_debian_haproxy(haproxy_install):
    result = subprocess.run([str(haproxy_install / "bin" / "haproxy"), "-vv"], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert re.search(r"HAProxy version 2\.6\.\d+-\d+\+deb12", result.stdout)
    shipped = sorted(p.name for p in (haproxy_install / "usr/lib/x86_64-linux-gnu").glob("*.so.*"))
    assert any(name.startswith("liblua5.3.so") for name in shipped), shipped
