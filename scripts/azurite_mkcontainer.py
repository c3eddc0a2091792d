"""Create a blob container on Azurite (SharedKey-signed PUT ?restype=container).

usage: azurite_mkcontainer.py BASE_URL CONTAINER -> "created" (201) or "exists" (409)
"""
import base64
import hashlib
import hmac
import sys
import urllib.error
import urllib.request
from email.utils import formatdate

# Azurite's documented, public development account and key (not a secret).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

base, container = sys.argv[1], sys.argv[2]
date, version = formatdate(usegmt=True), "2021-12-02"
to_sign = (
    "PUT\n" + "\n" * 11 + f"x-ms-date:{date}\nx-ms-version:{version}\n"
    + f"/{ACCOUNT}/{ACCOUNT}/{container}\nrestype:container"
)
sig = base64.b64encode(
    hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()
).decode()
req = urllib.request.Request(
    f"{base}/{ACCOUNT}/{container}?restype=container",
    method="PUT",
    headers={
        "x-ms-date": date,
        "x-ms-version": version,
        "Content-Length": "0",
        "Authorization": f"SharedKey {ACCOUNT}:{sig}",
    },
)
try:
    print("created", urllib.request.urlopen(req).status)
except urllib.error.HTTPError as e:
    if e.code != 409:
        raise
    print("exists")
