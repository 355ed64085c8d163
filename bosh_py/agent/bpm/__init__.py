"""bpm, BOSH's process manager, rebuilt on the project's own containers.

A job ships ``config/bpm.yml``; ``/var/vcap/jobs/bpm/bin/bpm start JOB [-p PROC]`` (the
``bpm`` release) runs each process in its own mount, PID, IPC and UTS namespaces, as
vcap, with only the job's own directories visible. The code travels in the agent bundle,
so every VM has exactly one copy. See docs/bpm.md.
"""
