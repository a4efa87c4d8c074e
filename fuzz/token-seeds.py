#!/usr/bin/env python3
"""Writes the seed tokens of corpus/token/, signed with the fuzzing-only key
token-key.pem the way the development issuer signs (ES256, kid = the first
eight bytes of the SHA-1 of the public point, in hex). The accepted ones
expire in 2100, so the corpus test keeps its verdicts. Needs `cryptography`."""

import base64, hashlib, json, pathlib
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "corpus" / "token"
KEY = serialization.load_pem_private_key((HERE / "token-key.pem").read_bytes(), None)
OTHER = ec.generate_private_key(ec.SECP256R1())
POINT = KEY.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
KID = hashlib.sha1(POINT).digest()[:8].hex()
ISS, EXP, IAT = "playcast-dev", 4102444800, 1767225600


def b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def part(obj) -> str:
    return b64(obj.encode() if isinstance(obj, str) else json.dumps(obj, separators=(",", ":")).encode())


def sign(header, claims, key=KEY) -> str:
    signing = f"{part(header)}.{part(claims)}"
    r, s = decode_dss_signature(key.sign(signing.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


H = {"alg": "ES256", "typ": "JWT", "kid": KID}


def claims(**extra):
    c = {"iss": ISS, "sub": "user_1", "sid": "dev_1", "iat": IAT, "nbf": IAT, "exp": EXP}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


good = sign(H, claims())
seeds = {
    "ok-player": good,
    "ok-admin": sign(H, claims(metadata={"role": "admin"})),
    "ok-viewer": sign(H, claims(metadata={"role": "viewer"})),
    "ok-no-nbf-no-iat": sign(H, claims(nbf=None, iat=None)),
    "bad-empty": "",
    "bad-two-parts": good.rsplit(".", 1)[0],
    "bad-four-parts": good + ".x",
    "bad-not-base64": "*." + good.split(".", 1)[1],
    "bad-header-not-json": part("{\"alg\":") + "." + good.split(".", 1)[1],
    "bad-header-array": sign([1, 2], claims()),
    "bad-alg-none": part({"alg": "none", "kid": KID}) + "." + part(claims()) + ".",
    "bad-alg-hs256": sign({"alg": "HS256", "kid": KID}, claims()),
    "bad-no-kid": sign({"alg": "ES256"}, claims()),
    "bad-unknown-kid": sign({"alg": "ES256", "kid": "0000000000000000"}, claims()),
    "bad-crit": sign({**H, "crit": ["b64"], "b64": False}, claims()),
    "bad-other-key": sign(H, claims(), OTHER),
    "bad-tampered-payload": part(H) + "." + part(claims(sub="admin")) + "." + good.rsplit(".", 1)[1],
    "bad-expired": sign(H, claims(exp=IAT + 60)),
    "bad-not-yet-valid": sign(H, claims(nbf=EXP - 60)),
    "bad-iat-future": sign(H, claims(iat=EXP)),
    "bad-iss-array": sign(H, claims(iss=[ISS])),
    "bad-wrong-issuer": sign(H, claims(iss="https://elsewhere.example")),
    "bad-sub-number": sign(H, claims(sub=7)),
    "bad-sub-empty": sign(H, claims(sub="")),
    "bad-exp-float": sign(H, claims(exp=4102444800.5)),
    "bad-exp-string": sign(H, claims(exp="4102444800")),
    "bad-no-exp": sign(H, claims(exp=None)),
    "bad-unknown-role": sign(H, claims(metadata={"role": "root"})),
    "bad-role-number": sign(H, claims(metadata={"role": 1})),
    "bad-repeated-role": sign(H, '{"iss":"playcast-dev","sub":"u","exp":4102444800,'
                              '"metadata":{"role":"player","role":"admin"}}'),
    "bad-repeated-alg": sign('{"alg":"ES256","alg":"ES256","kid":"%s"}' % KID, claims()),
}
OUT.mkdir(parents=True, exist_ok=True)
for name, token in seeds.items():
    (OUT / name).write_text(token)
print(f"{len(seeds)} tokens in {OUT}")
