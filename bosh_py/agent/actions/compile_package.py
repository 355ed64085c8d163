"""compile_package(blobstore_id, digest, name, version, deps, result_blobstore_id): build a
package on a compilation VM.

Dependencies (already compiled: ``{name: {blobstore_id, sha1, version}}``) are installed at
/var/vcap/packages/<dep>; the source is extracted to BOSH_COMPILE_TARGET and
``bash -x packaging`` runs there with BOSH_INSTALL_TARGET=/var/vcap/packages/<name>; the
install target is packed, uploaded (to ``result_blobstore_id``: the director names the one
blob the agent may write), and ``{"result": {"blobstore_id", "sha1"}}`` returned
(``sha1`` holds a ``sha256:`` digest, as everywhere in bosh-py). A failure's message carries
the last 20 lines of the script's output; the whole log stays at
/var/vcap/data/compile/<name>.log."""

import asyncio
import shutil
import uuid
from typing import Any

from bosh_py.agent.archive import make_tgz, safe_extract
from bosh_py.agent.commands import base_env, run_command
from bosh_py.agent.blobstore import upload_id_argument
from bosh_py.agent.context import ActionContext
from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.installer import check_name

ASYNC = True


async def run(ctx: ActionContext, blobstore_id: str, digest: str, name: str, version: str,
              deps: Any = None, result_blobstore_id: Any = None) -> dict:
    name = check_name("package name", name)
    version = check_name("package version", str(version))
    result_blobstore_id = upload_id_argument(result_blobstore_id, "compile_package")
    deps = deps or {}
    if not isinstance(deps, dict):
        raise AgentActionError("compile_package: dependencies must be a mapping")
    paths = ctx.paths
    async with ctx.compile_lock:
        installer = ctx.installer()
        blobstore = installer.blobstore

        async def install_dep(dep_name: str, dep: dict) -> None:
            if not isinstance(dep, dict) or not all(dep.get(k) for k in ("blobstore_id", "sha1", "version")):
                raise AgentActionError(f"compile_package: dependency {dep_name} needs blobstore_id, sha1, version")
            await asyncio.to_thread(installer.install_package, dep_name, str(dep["version"]),
                                    str(dep["blobstore_id"]), str(dep["sha1"]))
            installer.link_package(dep_name, str(dep["version"]))

        await asyncio.gather(*(install_dep(n, d) for n, d in deps.items()))

        compile_target = paths.compile_dir / name
        install_target = installer.package_dir(name, version)
        paths.tmp.mkdir(parents=True, exist_ok=True)
        source = paths.tmp / f"src-{uuid.uuid4().hex}.tgz"
        packed = paths.tmp / f"compiled-{uuid.uuid4().hex}.tgz"
        log_path = paths.compile_dir / f"{name}.log"
        try:
            def prepare() -> None:
                for d in (compile_target, install_target):
                    if d.exists():
                        shutil.rmtree(d)
                blobstore.get(blobstore_id, source, digest)
                safe_extract(source, compile_target)
                install_target.mkdir(parents=True)
                installer.link_package(name, version)
                log_path.unlink(missing_ok=True)

            await asyncio.to_thread(prepare)
            if not (compile_target / "packaging").is_file():
                raise AgentActionError(f"Package {name}/{version} has no packaging script")
            env = base_env({
                "BOSH_COMPILE_TARGET": str(compile_target),
                "BOSH_INSTALL_TARGET": str(paths.packages / name),
                "BOSH_PACKAGE_NAME": name,
                "BOSH_PACKAGE_VERSION": version,
                "BOSH_PACKAGES_DIR": str(paths.packages),
            })
            ctx.log.info("compiling %s/%s", name, version)
            result = await run_command(["bash", "-x", "packaging"], cwd=compile_target, env=env,
                                       stdout_log=log_path, stderr_log=log_path, tail_lines=20)
            if not result.ok:
                raise AgentActionError(
                    f"Compiling package {name}/{version} failed: packaging exited with code "
                    f"{result.returncode}. Last output lines:\n{result.tail_text()}")

            def pack_and_upload() -> tuple[str, str]:
                make_tgz(packed, [(install_target, "")])
                blob_id, sha = blobstore.put(packed, result_blobstore_id)
                marker = install_target.parent / f".{version}.digest"
                marker.write_text(sha + "\n")  # a later apply on this VM reuses it
                return blob_id, sha

            blob_id, sha = await asyncio.to_thread(pack_and_upload)
        finally:
            source.unlink(missing_ok=True)
            packed.unlink(missing_ok=True)
            shutil.rmtree(compile_target, ignore_errors=True)
    ctx.log.info("compiled %s/%s -> blob %s", name, version, blob_id)
    return {"result": {"blobstore_id": blob_id, "sha1": sha}}
