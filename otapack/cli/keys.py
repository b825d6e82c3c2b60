"""``otapack keygen``, ``pubkey``, ``sign`` and ``digest``: keys and signatures.

The work is done in ``otapack.features.signing`` (through ``otapack.api``);
see docs/security.md for what is signed and how devices check it.
"""

from __future__ import annotations

import click

from otapack.api import (
    SIGNATURE_ALGORITHMS,
    attach_signature,
    c_array,
    generate_key,
    load_private_key,
    load_public_key,
    package_digest,
    package_report,
    read_input,
    sign_package,
    signature_info,
    write_private_key,
)
from otapack.cli.common import (
    check_json_output, check_outputs, command, emit_json, info, shown, write_output, write_stdout,
)
from otapack.cli.options import INPUT_FILE, OUTPUT_FILE, OUTPUT_OR_STDOUT, json_option
from otapack.errors import UsageError


def _key_document(public, **extra) -> dict:
    """``--json`` of keygen and pubkey: the key id a signature names, and the public key itself."""
    return {"algorithm": public.algorithm.name, "key_id": public.key_id.hex(), "public_key": public.raw.hex(), **extra}


@command("keygen")
@click.option("--type", "key_type", type=click.Choice(list(SIGNATURE_ALGORITHMS)), default="ed25519", show_default=True,
              help="Signature algorithm: " + "; ".join(f"{a.name}: {a.description}" for a in SIGNATURE_ALGORITHMS.values()))
@click.option("-o", "--output", required=True, type=OUTPUT_FILE,
              help="Private key file to create (PKCS#8 PEM, mode 0600); never overwritten.")
@json_option
@click.pass_context
def keygen_cmd(ctx, key_type, output, as_json):
    """Generate a signing key pair and write its private key to a new file."""
    check_outputs(ctx, output, overwrite=False)
    key = generate_key(key_type)
    write_private_key(output, key)
    if as_json:
        emit_json(_key_document(key.public, output=output, mode="0600"))
    info(ctx, f"wrote {output} ({key_type} private key, key id {key.public.key_id.hex()}, mode 0600); "
              f"export the public key with: otapack pubkey {output} -o PUB.pem")


@command("pubkey")
@click.argument("key", type=INPUT_FILE)
@click.option("-o", "--output", type=OUTPUT_OR_STDOUT, default=None,
              help="File to write (atomically); default (or -): standard output.")
@click.option("--format", "out_format", type=click.Choice(["pem", "der", "raw", "c-array"]), default="pem",
              show_default=True,
              help="pem/der: SubjectPublicKeyInfo; raw: the bytes a bootloader embeds (32-byte Ed25519 key, "
                   "65-byte uncompressed P-256 point); c-array: raw bytes and key id as C source.")
@click.option("--name", default="otapack_pubkey", show_default=True, help="C identifier for --format c-array.")
@json_option
@click.pass_context
def pubkey_cmd(ctx, key, output, out_format, name, as_json):
    """Export the public key of KEY (a private or public key file).

    With --json and no -o: the key id and raw public key only."""
    if as_json and output == "-":
        check_json_output(as_json, output)
    check_outputs(ctx, output or "-")
    public = load_public_key(key, "key")
    if out_format == "pem":
        data = public.pem()
    elif out_format == "der":
        data = public.der()
    elif out_format == "raw":
        data = public.raw
    else:
        data = c_array(public, name).encode("ascii")
    if as_json:
        if output is not None:
            write_output(ctx, output, data)
        emit_json(_key_document(public, output=output, format=out_format if output is not None else None))
        return
    if output is None or output == "-":
        write_stdout(data, f"a {out_format} public key", binary=out_format in ("der", "raw"))
    else:
        write_output(ctx, output, data)
        info(ctx, f"wrote {output} ({public.algorithm.name} public key, {out_format}, key id {public.key_id.hex()})")


@command("sign")
@click.argument("package", type=INPUT_FILE)
@click.option("--key", "key_path", type=INPUT_FILE, default=None, help="Private key to sign with.")
@click.option("--signature", "signature_path", type=INPUT_FILE, default=None,
              help="A signature made elsewhere (HSM/KMS/openssl) over `otapack digest PACKAGE`: "
                   "raw 64 bytes for ed25519; DER or raw r||s for ecdsa-p256.  Needs --pubkey.")
@click.option("--pubkey", "pubkey_path", type=INPUT_FILE, default=None,
              help="Public key of an external --signature; the signature is checked before insertion.")
@click.option("-o", "--output", type=OUTPUT_OR_STDOUT, default=None,
              help="Signed package to write (- for standard output); default: replace PACKAGE in place (atomically).")
@click.option("--replace", is_flag=True, help="Replace an existing signature instead of refusing.")
@json_option
@click.pass_context
def sign_cmd(ctx, package, key_path, signature_path, pubkey_path, output, replace, as_json):
    """Sign PACKAGE: fill its signature slot with a signature over its body digest."""
    if (key_path is None) == (signature_path is None):
        raise UsageError("give exactly one of --key KEY.pem or --signature SIG.bin (with --pubkey)")
    if signature_path is not None and pubkey_path is None:
        raise UsageError("--signature needs --pubkey: the external signature is checked before it is inserted")
    if key_path is not None and pubkey_path is not None:
        raise UsageError("--pubkey goes with --signature; with --key the public key is derived from it")
    target = output or package
    check_json_output(as_json, target)
    check_outputs(ctx, target, may_replace=package)  # signing in place is what sign does by default
    data = read_input(package, "package", kind="package")
    if key_path is not None:
        key = load_private_key(key_path)
        signed = sign_package(data, key, replace=replace)
        public = key.public
    else:
        public = load_public_key(pubkey_path, private_ok=False)
        signature = read_input(signature_path, "signature", kind="key")
        signed = attach_signature(data, signature, public, replace=replace)
    write_output(ctx, target, signed, what="a package", may_replace=package)
    info(ctx, f"signed {shown(target)} with {public.algorithm.name} key id {public.key_id.hex()} ({len(signed)} bytes)")
    if as_json:
        emit_json({**package_report(signed, target), "signature": signature_info(signed)})


@command("digest")
@click.argument("package", type=INPUT_FILE)
@click.option("--binary", is_flag=True, help="The raw 32 bytes instead of hex.")
@click.option("-o", "--output", type=OUTPUT_OR_STDOUT, default=None,
              help="File to write; default (or -): standard output.")
@json_option
@click.pass_context
def digest_cmd(ctx, package, binary, output, as_json):
    """Print the digest of PACKAGE that a signature covers (SHA-256 of header, table and payloads).

    \b
    Sign it externally, then insert with `otapack sign PACKAGE --signature SIG --pubkey PUB.pem`:
      ed25519:    openssl pkeyutl -sign -inkey key.pem -rawin -in digest.bin -out sig.bin
      ecdsa-p256: openssl dgst -sha256 -sign key.pem -out sig.der digest.bin
    """
    if as_json and binary:
        raise UsageError("--json prints the digest as hex; --binary goes with -o FILE without --json")
    check_outputs(ctx, output or "-")
    raw = read_input(package, "package", kind="package")
    digest = package_digest(raw)
    if as_json:
        if output is not None and output != "-":
            write_output(ctx, output, (digest.hex() + "\n").encode("ascii"))
        emit_json({"package": package, "digest": digest.hex(), "digest_algorithm": "sha256",
                   "signature": signature_info(raw), "output": output if output != "-" else None})
        return
    data = digest if binary else (digest.hex() + "\n").encode("ascii")
    if output is not None and output != "-":
        write_output(ctx, output, data)
    elif binary:
        write_stdout(data, "the digest")
    else:
        click.echo(digest.hex())


COMMANDS = [keygen_cmd, pubkey_cmd, sign_cmd, digest_cmd]
