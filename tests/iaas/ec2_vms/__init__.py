"""TEST HARNESS, not a product: an EC2 emulator whose instances are real namespace VMs.

moto's EC2 server (behind ``tests/cpi_libcloud/moto_adapter``, which fixes the wire
disagreements with libcloud) answers the EC2 API; ``backing.VmBacking`` carries out each
successful call on real VMs through the real local CPI executable, so the libcloud CPI, the
director and real agents run end to end against "EC2" on this machine. Entry point:
``harness.ec2_with_vms`` (README.md says what is real and what is played).
"""
