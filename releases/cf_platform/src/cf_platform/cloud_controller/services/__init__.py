"""Service brokers (Open Service Broker API v2) in the cloud controller.

models.py holds the records, store.py their SQL, catalog.py reads a broker's catalog,
broker_client.py speaks HTTP to a broker, brokers.py / instances.py / bindings.py carry out
the v2 API's service calls, last_operation.py polls async operations, vcap.py builds what an
app sees as VCAP_SERVICES, and api.py maps the HTTP routes onto all of it.
"""
