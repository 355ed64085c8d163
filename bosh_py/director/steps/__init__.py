"""Per-instance steps of an update, one job per module (as BOSH's ``steps/*_step.rb``):
drain_stop → delete_vm → create_vm → mount_disk → apply → start → wait_running →
post_start. ``instance_updater.update_instance`` runs them in that order."""
