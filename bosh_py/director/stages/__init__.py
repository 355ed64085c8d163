"""The deploy as named stages, in the order jobs/deploy.py lists them (as BOSH's
``update_stage.rb``): plan → plan swaps (create-swap-delete's new addresses) → render →
compile → decide changes → (dry run: print the plan, stop) → create missing VMs → update
instance groups → delete obsolete instances → post-deploy → record; and, whatever
happened, delete orphaned VMs. Each stage is a module with one ``run(DeployRun)``; the run carries
what earlier stages found, as plain data."""
