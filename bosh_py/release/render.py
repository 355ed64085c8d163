"""Rendering an instance's job templates on the director (Jinja2, strict; ERB for ``.erb``).

What a template sees (documented for release authors):

- ``p("a.b")``: the property (manifest value, else spec default); a missing one is an
  error "Can't find property 'a.b'". ``p("a.b", default)`` never fails.
  ``p(["a", "b"])`` returns the first one found.
- ``if_p("a", "b")``: a list holding one item when every property is set (the value, or a
  tuple of values for several names) and empty otherwise, so both forms work:
  ``{% if if_p("a") %}`` and ``{% for user, pass in if_p("u", "p") %}...{% else %}...{% endfor %}``.
  ``has_p("a", ...)`` is the plain boolean.
- ``spec``: name, id, index, address, ip, az, deployment, bootstrap, networks, job.name,
  release.name/version, persistent_disk (and any other apply-spec key), with attribute access.
- ``link("name")``: ``.instances`` (each: name, id, index, az, address, bootstrap),
  ``.p("prop"[, default])`` and ``.if_p(...)`` over the provider's shared properties,
  ``.address`` (the first instance's, unless the director gave one), ``.name``.
  ``if_link("name")`` is a list with the link or empty, like ``if_p``.

Templates render in Jinja2's immutable sandbox: release templates are authored elsewhere
and must not reach the director's Python internals nor change ``spec`` for the next job.
The director renders them in a separate process (``isolated_render``): a template may run
10 s and use 256 MiB; past that the deploy fails naming the job and the template. Every template of every job is rendered before
any error is raised, so one RenderError lists all problems (job, template, line, message).
The ``monit`` file is rendered too and must be YAML of the documented shape.

A template whose source name ends in ``.erb`` (and a ``monit`` file holding ``<%``) is
rendered by Ruby's ERB with bosh-template's helpers instead, in an isolated Ruby process
per job (``bosh_py.release.erb``), under the same time and memory limits; its errors read
the same way (job, template, line). docs/templates.md describes both for release authors.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Mapping

import jinja2
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .digest import sha256_bytes
from .erb import ErbOutcome, ErbRenderers, is_erb
from .errors import RenderError
from .models import JobSpec
from .properties import MISSING, as_job_spec, effective_properties, link_properties, lookup
from .tarball import JobArchive
from .safe_tar import is_safe_name, is_safe_relative_path
from .tgz import TarEntry, tgz_bytes


class AttrDict(dict):
    """A dict whose keys read as attributes too (``spec.networks.default.ip``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _attrs(value: Any) -> Any:
    if isinstance(value, Mapping):
        return AttrDict({k: _attrs(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_attrs(v) for v in value]
    return value


class _TemplateProblem(Exception):
    """Raised by template helpers; the message goes to the user as is."""


def _describe(names: Any) -> str:
    if isinstance(names, (list, tuple)):
        return "[" + ", ".join(f'"{n}"' for n in names) + "]"
    return str(names)


class _Properties:
    """p / if_p / has_p over one tree of effective properties."""

    def __init__(self, tree: Mapping[str, Any], not_found: str) -> None:
        self._tree = tree
        self._not_found = not_found

    def p(self, names: Any, default: Any = MISSING) -> Any:
        for name in names if isinstance(names, (list, tuple)) else [names]:
            value = lookup(self._tree, str(name))
            if value is not MISSING:
                return value
        if default is not MISSING:
            return default
        raise _TemplateProblem(self._not_found.format(_describe(names)))

    def has_p(self, *names: str) -> bool:
        return all(lookup(self._tree, n) is not MISSING for n in names)

    def if_p(self, *names: str) -> list[Any]:
        if not names or not self.has_p(*names):
            return []
        values = [lookup(self._tree, n) for n in names]
        return [values[0] if len(values) == 1 else tuple(values)]


class Link:
    """What ``link("name")`` returns in a template."""

    def __init__(self, name: str, data: Mapping[str, Any]) -> None:
        self.name = name
        self.type = data.get("type")
        self.deployment = data.get("deployment")
        self.instances = [_attrs(_instance(i)) for i in data.get("instances") or []]
        self.properties = _attrs(data.get("properties") or {})
        self.address = data.get("address") or (self.instances[0].address if self.instances else None)
        self._props = _Properties(self.properties, f"Can't find link property '{{}}' in link '{name}'")

    def p(self, names: Any, default: Any = MISSING) -> Any:
        return self._props.p(names, default)

    def if_p(self, *names: str) -> list[Any]:
        return self._props.if_p(*names)

    def has_p(self, *names: str) -> bool:
        return self._props.has_p(*names)


def _instance(i: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": i.get("name"), "id": i.get("id"), "index": i.get("index"), "az": i.get("az"),
            "address": i.get("address") or i.get("ip"), "bootstrap": bool(i.get("bootstrap", False)),
            **{k: v for k, v in i.items() if k not in ("name", "id", "index", "az", "address", "bootstrap")}}


def link_from_provider(provider_spec: JobSpec | Mapping[str, Any], provider_properties: Mapping[str, Any] | None,
                       provides_name: str, instances: list[Mapping[str, Any]],
                       *, deployment: str | None = None, address: str | None = None) -> dict[str, Any]:
    """Build the link data ``render_instance_jobs`` expects, from the providing job.

    ``instances``: dicts with name, id, index, az, address, bootstrap of the provider's
    instances. Properties are those the ``provides`` entry lists, with spec defaults.
    """
    provider_spec = as_job_spec(provider_spec)
    provides = next((p for p in provider_spec.provides if p.name == provides_name), None)
    if provides is None:
        raise KeyError(provides_name)
    data = {"name": provides_name, "type": provides.type, "deployment": deployment,
            "properties": link_properties(provider_spec, provider_properties, provides_name),
            "instances": [_instance(i) for i in instances]}
    if address:
        data["address"] = address
    return data


@dataclass(frozen=True)
class JobForRender:
    """One job of an instance to render: its release content and the manifest's properties."""

    name: str
    spec: JobSpec
    monit: str
    templates: dict[str, str]  # template src (as in spec.templates) -> template text
    properties: dict[str, Any] = field(default_factory=dict)
    release: dict[str, Any] = field(default_factory=dict)  # {"name", "version"}: spec.release

    def __post_init__(self) -> None:
        object.__setattr__(self, "spec", as_job_spec(self.spec))
        object.__setattr__(self, "properties", dict(self.properties or {}))
        object.__setattr__(self, "release", dict(self.release or {}))

    @classmethod
    def from_archive(cls, archive: JobArchive, properties: Mapping[str, Any] | None = None,
                     release: Mapping[str, Any] | None = None) -> "JobForRender":
        return cls(archive.name, archive.spec, archive.monit, dict(archive.templates), dict(properties or {}),
                   dict(release or {}))


@dataclass(frozen=True)
class RenderedInstance:
    """The result of rendering one instance.

    ``archive``: tar.gz, top-level dirs are job names; ``sha256``: its ``sha256:<hex>``;
    ``job_digests``: job name -> ``sha256:<hex>`` over that job's rendered files (what the
    director compares to know a job's configuration changed); ``configuration_hash``: one
    digest over all jobs; ``files``: job -> {path: rendered text} (monit included).
    """

    archive: bytes
    sha256: str
    job_digests: dict[str, str]
    configuration_hash: str
    files: dict[str, dict[str, str]]


def instance_spec_view(instance_spec: Mapping[str, Any]) -> AttrDict:
    """The ``spec`` object: the apply spec plus derived ``ip``/``address``/``job``."""
    networks = dict(instance_spec.get("networks") or {})
    ip = instance_spec.get("ip")
    if ip is None and networks:
        default = [n for n, v in sorted(networks.items())
                   if isinstance(v, Mapping) and "gateway" in (v.get("default") or [])]
        chosen = default[0] if default else sorted(networks)[0]
        net = networks[chosen]
        ip = net.get("ip") if isinstance(net, Mapping) else None
    view = {key: None for key in ("name", "id", "index", "az", "deployment")}
    view.update(instance_spec)
    view["networks"] = networks
    view["ip"] = ip
    view["address"] = instance_spec.get("address") or ip
    view["bootstrap"] = bool(instance_spec.get("bootstrap", False))
    view["job"] = instance_spec.get("job") or {"name": instance_spec.get("name")}
    view.setdefault("persistent_disk", 0)
    return _attrs(view)


def _job_spec_view(spec_view: AttrDict, job: JobForRender) -> AttrDict:
    """``spec`` as one job sees it: ``spec.release`` is that job's release."""
    release = {"name": job.release.get("name"), "version": job.release.get("version")}
    return AttrDict({**spec_view, "release": AttrDict(release)})


def _line_of(exc: BaseException, template_name: str) -> int | None:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.lineno
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == template_name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


_PROCESS_KEYS = {"name": str, "executable": str, "args": list, "env": dict, "working_dir": str}


def _check_monit(text: str) -> str | None:
    """None if the rendered monit file has the documented shape, else what is wrong."""
    from bosh_py.agent.monit_classic import is_classic  # the agent's own parser: one truth
    from bosh_py.agent.monitfile import monit_problem
    if is_classic(text):
        return monit_problem(text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return f"invalid YAML: {e}"
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("processes", []), list):
        return "expected a mapping with a 'processes' list"
    for i, proc in enumerate(data.get("processes") or []):
        if not isinstance(proc, dict):
            return f"processes/{i}: expected a mapping"
        for key in ("name", "executable"):
            if not isinstance(proc.get(key), str) or not proc.get(key):
                return f"processes/{i}/{key}: a string is required"
        for key, kind in _PROCESS_KEYS.items():
            if key in proc and proc[key] is not None and not isinstance(proc[key], kind):
                return f"processes/{i}/{key}: expected {'array' if kind is list else 'hash' if kind is dict else 'string'}"
    return None


def _file_mode(dest: str) -> int:
    return 0o755 if posixpath.normpath(dest).startswith("bin/") else 0o644


def _digest_files(files: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        content = hashlib.sha256(files[path].encode()).hexdigest()
        h.update(f"{path}\0{content}\0{_file_mode(path):o}\n".encode())
    return "sha256:" + h.hexdigest()


def _environment(sources: dict[str, str]) -> jinja2.Environment:
    """A strict, immutable-sandbox environment loading templates by name from ``sources``
    (the name doubles as the code's file name, which is how errors get line numbers)."""

    def load(name: str) -> tuple[str, str, Any] | None:
        return (sources[name], name, lambda: True) if name in sources else None

    return ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                         autoescape=False, loader=jinja2.FunctionLoader(load), cache_size=1000)


class TemplateCompiler:
    """The sandboxed environment, compiling each distinct template source once: every
    instance of a group renders the same templates, and compiling is most of the work.
    Names carry a digest of the source, so a name never stands for two texts."""

    def __init__(self) -> None:
        self._sources: dict[str, str] = {}
        self._env = _environment(self._sources)

    @staticmethod
    def name_for(template: str, text: str) -> str:
        return f"{template}#{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def load(self, name: str, text: str) -> jinja2.Template:
        self._sources[name] = text
        return self._env.get_template(name)


class TemplateLimitExceeded(Exception):
    """A template went past a limit; rendering stops at once. Raised inside the template by
    the process that bounds it (an Exception, so Jinja2 maps the traceback to template
    lines), then again by ``render_job_files`` with ``where``: job, template and line."""

    def __init__(self, where: str = "") -> None:
        super().__init__(where)
        self.where = where


class TemplateOutOfMemory(TemplateLimitExceeded):
    """The template needed more memory than the process may use (a MemoryError)."""


class TemplateTimedOut(TemplateLimitExceeded):
    """The template ran past its time limit (raised by the worker's alarm)."""


TemplateGuard = Callable[[str, bool], ContextManager[None]]  # (where, timed by the guard itself)


def render_instance_jobs(jobs: list[JobForRender], instance_spec: Mapping[str, Any],
                         links: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None) -> RenderedInstance:
    """Render every job of one instance into the rendered-templates archive.

    ``instance_spec`` is the apply spec (deployment, name, id, index, az, bootstrap,
    networks, job, ... ; ``ip``/``address`` may be given or are derived from the default
    network). ``links`` maps job name -> consumed link name -> link data as built by
    ``link_from_provider`` (instances, properties, optional address).

    Jinja2 templates render in the caller's process with no time or memory bound (ERB ones
    in their isolated Ruby processes, bounded); the director renders through
    ``bosh_py.release.isolated_render`` instead.
    """
    return package_rendered(render_job_files(jobs, instance_spec, links))


def render_job_files(jobs: list[JobForRender], instance_spec: Mapping[str, Any],
                     links: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
                     guard: TemplateGuard | None = None,
                     compiler: TemplateCompiler | None = None,
                     erb: ErbRenderers | None = None) -> dict[str, dict[str, str]]:
    """Job name -> {destination path: rendered text}; raises RenderError listing every problem.

    Each template renders inside ``guard("job 'x' template 'y'", timed)`` when given: how a
    supervising process bounds and names the template running (``timed`` is False for
    ERB, which ``erb`` times itself). A ``compiler`` shared between calls compiles each
    template once for all instances; ``erb`` likewise keeps the Ruby processes.
    """
    if erb is None:
        with ErbRenderers() as own:
            return render_job_files(jobs, instance_spec, links, guard, compiler, own)
    links = links or {}
    spec_view = instance_spec_view(instance_spec)
    compiler = compiler or TemplateCompiler()
    errors: list[str] = []
    rendered: dict[str, dict[str, str]] = {}
    seen_jobs: set[str] = set()

    for job in jobs:
        if job.name in seen_jobs:
            errors.append(f"job '{job.name}': listed twice on the instance")
            continue
        seen_jobs.add(job.name)
        if not is_safe_name(job.name):
            errors.append(f"job '{job.name}': not a valid job name")
            continue
        tree = effective_properties(job.spec, job.properties)
        props = _Properties(tree, "Can't find property '{}'")
        job_spec_view = _job_spec_view(spec_view, job)
        job_link_data = dict(links.get(job.name) or {})
        job_links = {name: Link(name, data) for name, data in (links.get(job.name) or {}).items()}

        def link(name: str, _links: dict[str, Link] = job_links) -> Link:
            if name not in _links:
                raise _TemplateProblem(f"Can't find link '{name}'")
            return _links[name]

        def if_link(name: str, _links: dict[str, Link] = job_links) -> list[Link]:
            return [_links[name]] if name in _links else []

        context = {"p": props.p, "if_p": props.if_p, "has_p": props.has_p, "spec": job_spec_view,
                   "link": link, "if_link": if_link}
        out: dict[str, str] = {}
        items = [(src, dest, job.templates.get(src)) for src, dest in sorted(job.spec.templates.items())]
        items.append(("monit", "monit", job.monit))
        for src, dest, text in items:
            where = f"job '{job.name}' template '{src}'" if src != "monit" else f"job '{job.name}' monit"
            if not is_safe_relative_path(dest):
                errors.append(f"{where}: destination '{dest}' must be a relative path inside the job directory")
                continue
            if text is None:
                errors.append(f"{where}: template source is missing from the job")
                continue
            if is_erb(src) or (src == "monit" and "<%" in text):
                with guard(where, False) if guard is not None else contextlib.nullcontext():
                    outcome = erb.render(f"{job.release.get('name') or ''}/{job.name}", {
                        "source": text, "template": src, "properties": tree, "spec": job_spec_view,
                        "links": job_link_data})
                problem = _erb_problem(outcome, where, erb, raise_limits=guard is not None)
                if problem:
                    errors.append(problem)
                    continue
                result = outcome.text or ""
            else:
                template_name = TemplateCompiler.name_for(
                    f"{job.name}/templates/{src}" if src != "monit" else f"{job.name}/monit", text)
                try:
                    with guard(where, True) if guard is not None else contextlib.nullcontext():
                        result = compiler.load(template_name, text).render(context)
                except (TemplateLimitExceeded, MemoryError) as exc:
                    line = _line_of(exc, template_name)
                    kind = TemplateOutOfMemory if isinstance(exc, MemoryError) else type(exc)
                    raise kind(f"{where}{f' line {line}' if line else ''}") from None
                except Exception as exc:  # noqa: BLE001 - every failure becomes a RenderError line
                    line = _line_of(exc, template_name)
                    message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else str(exc)
                    errors.append(f"{where}{f' line {line}' if line else ''}: {message}")
                    continue
            if src == "monit":
                problem = _check_monit(result)
                if problem:
                    errors.append(f"{where}: {problem}")
                    continue
            out[posixpath.normpath(dest)] = result
        rendered[job.name] = out

    if errors:
        head = "Unable to render templates:" if len(errors) > 1 else "Unable to render templates: " + errors[0]
        message = head if len(errors) == 1 else head + "\n" + "\n".join(f"- {e}" for e in errors)
        raise RenderError(message, errors)
    return rendered


def _erb_problem(outcome: ErbOutcome, where: str, erb: ErbRenderers, raise_limits: bool) -> str | None:
    """The error line for an ERB outcome (None when it rendered). A limit is raised as
    TemplateLimitExceeded when a supervising worker renders (it stops there, as for
    Jinja2), and is an ordinary error line otherwise."""
    at = f"{where}{f' line {outcome.line}' if outcome.line else ''}"
    if outcome.limit:
        if raise_limits:
            raise (TemplateOutOfMemory if outcome.limit == "memory" else TemplateTimedOut)(at)
        if outcome.limit == "memory":
            return f"{at}: rendering used more than {erb.memory_mib} MiB"
        return f"{at}: rendering took longer than {erb.seconds:g} s"
    if outcome.error is not None:
        return f"{at}: {outcome.error}"
    return None


def package_rendered(rendered: Mapping[str, Mapping[str, str]]) -> RenderedInstance:
    """The archive and digests of rendered files (job name -> {path: text})."""
    rendered = {job: dict(files) for job, files in rendered.items()}
    entries = [TarEntry(f"{job}/{path}", _file_mode(path), data=text.encode())
               for job, files in rendered.items() for path, text in files.items()]
    archive = tgz_bytes(entries)
    job_digests = {job: _digest_files(files) for job, files in rendered.items()}
    overall = hashlib.sha256("".join(f"{j}\0{d}\n" for j, d in sorted(job_digests.items())).encode())
    return RenderedInstance(archive=archive, sha256=sha256_bytes(archive), job_digests=job_digests,
                            configuration_hash="sha256:" + overall.hexdigest(), files=rendered)

