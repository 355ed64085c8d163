"""The benchmark's pyinfra side (pyinfra 3.x): the same page template as the Ansible
playbook and a restart of the web process when the page changed, on the same VMs bosh-py
deployed (a separate copy on port 8082, so all three can run side by side).

Run by bench/deploy.py from its own venv: ``pyinfra -y --parallel N inventory.py web.py
--data message=...``; the inventory names each host's ``web_index``."""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

ROOT = "/var/vcap/data/pyinfra-web"
TEMPLATE = Path(__file__).resolve().parent.parent / "ansible" / "index.html.j2"
RESTART = f"""
kill "$(cat {ROOT}/pid)" 2>/dev/null || true
cd {ROOT} && setsid python3 -m http.server 8082 --directory public >/dev/null 2>&1 < /dev/null &
echo $! > {ROOT}/pid
"""
ENSURE_RUNNING = f"""
test -f {ROOT}/pid && kill -0 "$(cat {ROOT}/pid)" 2>/dev/null && exit 0
cd {ROOT} && setsid python3 -m http.server 8082 --directory public >/dev/null 2>&1 < /dev/null &
echo $! > {ROOT}/pid
"""

files.directory(name="page directory", path=f"{ROOT}/public")
page = files.template(name="page from the same template", src=str(TEMPLATE), dest=f"{ROOT}/public/index.html",
                      message=host.data.message, web_index=host.data.web_index, ansible_host=host.name)
server.shell(name="restart web", commands=[RESTART], _if=page.did_change)
server.shell(name="web server running", commands=[ENSURE_RUNNING])
