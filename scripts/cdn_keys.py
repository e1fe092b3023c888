"""The CDN stage option's signing keys: make one, make it the one links are signed with, and
retire one (`make infra` between the steps puts the public keys into the distribution).

    python scripts/cdn_keys.py add --stage prod --slot a        # a new key pair in slot a
    make infra STAGE=prod                                        # CloudFront gets its public key
    python scripts/cdn_keys.py activate --stage prod --slot a    # links are signed with it
    make deploy STAGE=prod

Rotating: `add` the new key to the free slot, `make infra` (the key group now holds both,
so links signed by either work), `activate` it (warm functions switch within five minutes,
chalicelib/cdn.py), and once links signed by the old key may stop, `retire` the old slot
and `make infra`: CloudFront refuses the old key's links once its change is deployed.

The public keys go to .chalice/cdn-keys-STAGE.json (public; scripts/infra.py passes them to
the template), the private keys to the SSM SecureString /image-service/STAGE/cdn-signing-keys
as {"active": slot, "keys": {slot: {"id": CloudFront public key id, "pem": PKCS#1 PEM}}}.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import infra

SLOT_RESOURCES = {"a": "CdnKeyA", "b": "CdnKeyB"}


def _read(ssm: Any, stage: str) -> dict[str, Any]:
    try:
        found = ssm.get_parameter(Name=infra.keys_parameter(stage), WithDecryption=True)
    except ssm.exceptions.ParameterNotFound:
        return {"active": "", "keys": {}}
    return json.loads(found["Parameter"]["Value"])


def _write(ssm: Any, stage: str, keys: dict[str, Any]) -> None:
    ssm.put_parameter(
        Name=infra.keys_parameter(stage),
        Type="SecureString",
        Value=json.dumps(keys),
        Overwrite=True,
    )


def _public_keys(stage: str, chalice_dir: Path) -> dict[str, str]:
    path = infra.public_keys_file(stage, chalice_dir)
    return json.loads(path.read_text()) if path.is_file() else {"a": "", "b": ""}


def add(ssm: Any, stage: str, slot: str, chalice_dir: Path = infra.CHALICE_DIR) -> None:
    public = _public_keys(stage, chalice_dir)
    if public.get(slot):
        raise SystemExit(f"slot {slot} holds a key; retire it first")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public[slot] = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    keys = _read(ssm, stage)
    keys["keys"][slot] = {"id": "", "pem": private}
    _write(ssm, stage, keys)
    infra.public_keys_file(stage, chalice_dir).write_text(json.dumps(public, indent=2) + "\n")


def activate(ssm: Any, cloudformation: Any, stage: str, slot: str) -> str:
    """Sign with `slot`'s key from now on; returns its CloudFront public key id."""
    keys = _read(ssm, stage)
    if slot not in keys["keys"]:
        raise SystemExit(f"slot {slot} has no key; add it first")
    resource = cloudformation.describe_stack_resource(
        StackName=infra.stack_name(stage), LogicalResourceId=SLOT_RESOURCES[slot]
    )["StackResourceDetail"]
    keys["keys"][slot]["id"] = resource["PhysicalResourceId"]
    keys["active"] = slot
    _write(ssm, stage, keys)
    return resource["PhysicalResourceId"]


def retire(ssm: Any, stage: str, slot: str, chalice_dir: Path = infra.CHALICE_DIR) -> None:
    keys = _read(ssm, stage)
    if keys["active"] == slot:
        raise SystemExit(f"slot {slot} is the active key; activate the other one first")
    keys["keys"].pop(slot, None)
    _write(ssm, stage, keys)
    public = _public_keys(stage, chalice_dir)
    public[slot] = ""
    infra.public_keys_file(stage, chalice_dir).write_text(json.dumps(public, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("add", "activate", "retire"))
    parser.add_argument("--stage", required=True)
    parser.add_argument("--slot", required=True, choices=sorted(SLOT_RESOURCES))
    parser.add_argument("--region", default=None)
    args = parser.parse_args(argv)
    ssm = boto3.client("ssm", region_name=args.region)
    if args.command == "add":
        add(ssm, args.stage, args.slot)
        print(f"cdn_keys: slot {args.slot} has a new key; now make infra STAGE={args.stage}")
    elif args.command == "activate":
        cloudformation = boto3.client("cloudformation", region_name=args.region)
        key_id = activate(ssm, cloudformation, args.stage, args.slot)
        print(f"cdn_keys: links of {args.stage} are signed with {key_id} (slot {args.slot})")
    else:
        retire(ssm, args.stage, args.slot)
        print(f"cdn_keys: slot {args.slot} retired; now make infra STAGE={args.stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
