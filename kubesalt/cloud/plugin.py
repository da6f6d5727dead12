"""The lab providers speak Terraform's plugin protocol (go-plugin handshake, tfplugin6 gRPC).

Terraform starts ``terraform-provider-<name>`` (our launcher, see :mod:`kubesalt.cloud.install`)
and reads one handshake line from its stdout: ``1|6|unix|<socket>|grpc|<server cert>``. With
``PLUGIN_CLIENT_CERT`` set (go-plugin's AutoMTLS, which Terraform always uses) the server
presents a fresh self-signed certificate (never written to disk), which Terraform pins. The
socket lives in a private (0700) temporary directory removed on exit; nothing else is written.

The protocol buffers are the ``tfplugin6``/``plugin`` stubs that PyPI's ``tf`` package ships
(generated from the MPL-2.0 .proto files of Terraform/OpenTofu and go-plugin); the server
behaviour (schemas from the generated files, SDK-v2 planning, the resources) is ours.
"""

from __future__ import annotations

import base64
import datetime
import os
import signal
import sys
import tempfile
import threading
import traceback
from concurrent import futures

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"


class ProviderError(Exception):
    """An error Terraform shows as a diagnostic: ``summary`` then ``detail``."""

    def __init__(self, summary: str, detail: str = "", path: list | None = None):
        super().__init__(summary)
        self.summary = summary
        self.detail = detail
        self.path = path


def _schema_pb(pb, schema: dict):
    from kubesalt.cloud.values import json_type  # noqa: PLC0415

    def block_pb(block: dict):
        attributes = []
        for name, spec in sorted(block["attributes"].items()):
            attributes.append(
                pb.Schema.Attribute(
                    name=name,
                    type=json_type(spec["type"]),
                    required=bool(spec.get("required")),
                    optional=bool(spec.get("optional")),
                    computed=bool(spec.get("computed")),
                    sensitive=bool(spec.get("sensitive")),
                    deprecated=bool(spec.get("deprecated")),
                )
            )
        nested = []
        modes = {
            "single": pb.Schema.NestedBlock.SINGLE,
            "list": pb.Schema.NestedBlock.LIST,
            "set": pb.Schema.NestedBlock.SET,
        }
        for name, spec in sorted(block["blocks"].items()):
            nested.append(
                pb.Schema.NestedBlock(
                    type_name=name,
                    block=block_pb(spec["block"]),
                    nesting=modes[spec["nesting"]],
                    min_items=spec.get("min_items", 0),
                    max_items=spec.get("max_items", 0),
                )
            )
        return pb.Schema.Block(attributes=attributes, block_types=nested)

    return pb.Schema(version=schema.get("version", 0), block=block_pb(schema["block"]))


def _diagnostics(pb, errors: list) -> list:
    out = []
    for error in errors:
        fields = {"severity": pb.Diagnostic.ERROR, "summary": error.summary, "detail": error.detail}
        if error.path:
            steps = [
                pb.AttributePath.Step(element_key_int=step)
                if isinstance(step, int)
                else pb.AttributePath.Step(attribute_name=step)
                for step in error.path
            ]
            fields["attribute"] = pb.AttributePath(steps=steps)
        out.append(pb.Diagnostic(**fields))
    return out


def _path_pb(pb, path: list):
    return pb.AttributePath(
        steps=[
            pb.AttributePath.Step(element_key_int=step)
            if isinstance(step, int)
            else pb.AttributePath.Step(attribute_name=step)
            for step in path
        ]
    )


def make_servicer(provider):
    """A tfplugin6 ``Provider`` servicer for ``provider`` (a ``kubesalt.cloud.provider.Base``)."""
    from tf.gen import tfplugin_pb2 as pb  # noqa: PLC0415
    from tf.gen import tfplugin_pb2_grpc as rpc  # noqa: PLC0415

    from kubesalt.cloud import plan as planner  # noqa: PLC0415
    from kubesalt.cloud import values  # noqa: PLC0415

    schemas = provider.schemas

    def resource_schema(type_name):
        return schemas["resources"][type_name]

    def decode(dynamic):
        if dynamic is None:
            return None
        if dynamic.json:
            import json  # noqa: PLC0415

            return json.loads(dynamic.json)
        return values.decode(dynamic.msgpack)

    def encode(value, schema):
        if value is None:
            return pb.DynamicValue(msgpack=values.encode(None, "dynamic"))
        return pb.DynamicValue(msgpack=values.encode(value, values.block_type(schema["block"])))

    def guarded(response_type):
        def wrap(method):
            def run(self, request, context):
                try:
                    return method(self, request, context)
                except ProviderError as error:
                    return response_type(diagnostics=_diagnostics(pb, [error]))
                except Exception as exc:
                    traceback.print_exc()
                    error = ProviderError(
                        f"lab provider {provider.name}: {type(exc).__name__}: {exc}"
                    )
                    return response_type(diagnostics=_diagnostics(pb, [error]))

            return run

        return wrap

    class Servicer(rpc.ProviderServicer):
        def GetMetadata(self, request, context):
            return pb.GetMetadata.Response(
                server_capabilities=pb.ServerCapabilities(
                    plan_destroy=False, get_provider_schema_optional=False
                ),
                resources=[
                    pb.GetMetadata.ResourceMetadata(type_name=name) for name in schemas["resources"]
                ],
                data_sources=[
                    pb.GetMetadata.DataSourceMetadata(type_name=name)
                    for name in schemas["data_sources"]
                ],
            )

        def GetProviderSchema(self, request, context):
            return pb.GetProviderSchema.Response(
                provider=_schema_pb(pb, schemas["provider"]),
                provider_meta=pb.Schema(block=pb.Schema.Block()),
                resource_schemas={
                    name: _schema_pb(pb, spec) for name, spec in schemas["resources"].items()
                },
                data_source_schemas={
                    name: _schema_pb(pb, spec) for name, spec in schemas["data_sources"].items()
                },
                server_capabilities=pb.ServerCapabilities(plan_destroy=False),
            )

        @guarded(pb.ValidateProviderConfig.Response)
        def ValidateProviderConfig(self, request, context):
            return pb.ValidateProviderConfig.Response()

        @guarded(pb.ValidateResourceConfig.Response)
        def ValidateResourceConfig(self, request, context):
            errors = provider.validate(resource_schema(request.type_name), decode(request.config))
            return pb.ValidateResourceConfig.Response(diagnostics=_diagnostics(pb, errors))

        @guarded(pb.ValidateDataResourceConfig.Response)
        def ValidateDataResourceConfig(self, request, context):
            errors = provider.validate(
                schemas["data_sources"][request.type_name], decode(request.config)
            )
            return pb.ValidateDataResourceConfig.Response(diagnostics=_diagnostics(pb, errors))

        @guarded(pb.UpgradeResourceState.Response)
        def UpgradeResourceState(self, request, context):
            import json  # noqa: PLC0415

            schema = resource_schema(request.type_name)
            state = json.loads(request.raw_state.json) if request.raw_state.json else None
            if state is not None:
                known = values.block_type(schema["block"])[1]
                state = {name: state.get(name) for name in known}
            return pb.UpgradeResourceState.Response(upgraded_state=encode(state, schema))

        @guarded(pb.ConfigureProvider.Response)
        def ConfigureProvider(self, request, context):
            provider.configure(decode(request.config) or {})
            return pb.ConfigureProvider.Response()

        @guarded(pb.ReadResource.Response)
        def ReadResource(self, request, context):
            schema = resource_schema(request.type_name)
            state = decode(request.current_state)
            new_state = provider.read(request.type_name, state)
            return pb.ReadResource.Response(
                new_state=encode(new_state, schema), private=request.private
            )

        @guarded(pb.PlanResourceChange.Response)
        def PlanResourceChange(self, request, context):
            schema = resource_schema(request.type_name)
            prior = decode(request.prior_state)
            proposed = decode(request.proposed_new_state)
            config = decode(request.config)
            planned, replace = planner.plan(schema, prior, proposed, config)
            if planned is not None:
                provider.plan_check(request.type_name, planned, prior)
            return pb.PlanResourceChange.Response(
                planned_state=encode(planned, schema),
                requires_replace=[_path_pb(pb, path) for path in replace],
                planned_private=request.prior_private,
                legacy_type_system=not schema.get("framework", False),
            )

        @guarded(pb.ApplyResourceChange.Response)
        def ApplyResourceChange(self, request, context):
            schema = resource_schema(request.type_name)
            prior = decode(request.prior_state)
            planned = decode(request.planned_state)
            config = decode(request.config)
            if planned is None:
                provider.delete(request.type_name, prior)
                new_state = None
            elif prior is None:
                new_state = provider.create(request.type_name, planned, config)
            else:
                new_state = provider.update(request.type_name, prior, planned, config)
            return pb.ApplyResourceChange.Response(
                new_state=encode(new_state, schema),
                legacy_type_system=not schema.get("framework", False),
            )

        @guarded(pb.ImportResourceState.Response)
        def ImportResourceState(self, request, context):
            raise ProviderError(f"{request.type_name}: import is not supported by the lab cloud")

        @guarded(pb.ReadDataSource.Response)
        def ReadDataSource(self, request, context):
            schema = schemas["data_sources"][request.type_name]
            config = decode(request.config)
            state = provider.read_data(request.type_name, config)
            return pb.ReadDataSource.Response(state=encode(state, schema))

        def GetFunctions(self, request, context):
            return pb.GetFunctions.Response()

        def StopProvider(self, request, context):
            return pb.StopProvider.Response()

    return Servicer()


def _certificate():
    """A fresh self-signed server certificate (EC P-256), never written to disk."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp"),
        ]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (
        cert.public_bytes(serialization.Encoding.DER),
        cert.public_bytes(serialization.Encoding.PEM),
        key_pem,
    )


def serve(provider) -> int:
    """Run ``provider`` as a Terraform plugin until Terraform stops it."""
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        print(
            "This binary is a plugin. These are not meant to be executed directly.\n"
            "Please execute the program that consumes these plugins, which will\n"
            "load any plugins automatically",
            file=sys.stderr,
        )
        return 1
    versions = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "6").split(",")
    if "6" not in versions:
        print(
            f"lab provider speaks plugin protocol 6; Terraform offers {versions}", file=sys.stderr
        )
        return 1

    import grpc  # noqa: PLC0415
    from tf.gen import grpc_controller_pb2 as controller_pb  # noqa: PLC0415
    from tf.gen import grpc_controller_pb2_grpc as controller_rpc  # noqa: PLC0415
    from tf.gen import grpc_stdio_pb2_grpc as stdio_rpc  # noqa: PLC0415
    from tf.gen import tfplugin_pb2_grpc as rpc  # noqa: PLC0415

    stopped = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    rpc.add_ProviderServicer_to_server(make_servicer(provider), server)

    class Controller(controller_rpc.GRPCControllerServicer):
        def Shutdown(self, request, context):
            stopped.set()
            return controller_pb.Empty()

    class Stdio(stdio_rpc.GRPCStdioServicer):
        def StreamStdio(self, request, context):
            stopped.wait()
            return iter(())

    controller_rpc.add_GRPCControllerServicer_to_server(Controller(), server)
    stdio_rpc.add_GRPCStdioServicer_to_server(Stdio(), server)

    workdir = tempfile.mkdtemp(prefix="kubesalt-provider-")
    socket_path = os.path.join(workdir, "plugin.sock")
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT")
    server_der = b""
    if client_cert:
        server_der, cert_pem, key_pem = _certificate()
        # Terraform verifies our certificate against the one in the handshake. gRPC's TLS
        # cannot verify go-plugin's client certificate (no CA match in the handshake), so
        # access is guarded by the socket instead: it lives in a 0700 directory of ours.
        credentials = grpc.ssl_server_credentials([(key_pem, cert_pem)], require_client_auth=False)
        server.add_secure_port(f"unix:{socket_path}", credentials)
    else:
        server.add_insecure_port(f"unix:{socket_path}")
    server.start()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    cert_field = base64.b64encode(server_der).decode().rstrip("=") if server_der else ""
    sys.stdout.write(f"1|6|unix|{socket_path}|grpc|{cert_field}\n")
    sys.stdout.flush()
    try:
        stopped.wait()
    finally:
        server.stop(grace=1).wait(2)
        for path in (socket_path, workdir):
            try:
                os.unlink(path) if path == socket_path else os.rmdir(path)
            except OSError:
                pass
    return 0
