"""Cloud check (`bosh-py cck`): find what differs between the director's records and the
IaaS and agents, and resolve each problem the way the operator chooses (BOSH's problem
types and resolutions, https://bosh.io/docs/cck/). ``problems`` is pure, ``scan`` looks,
``resolve`` acts, ``job`` is the director task that runs both under the deployment lock."""
