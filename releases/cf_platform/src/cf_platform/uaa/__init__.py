"""UAA: Cloud Foundry's OAuth2 login server (password, refresh_token and client_credentials
grants; RS256 JWTs; minimal SCIM for users and groups).

On a VM it runs on the stemcell's python3 with the standard library, cf-platform and Debian's
python3-cryptography (shipped by releases/uaa as package blobs): RSA signing comes from
``cryptography``, never from code of our own.
"""
