"""Basic authentication and TLS over real sockets: rejected requests change nothing, TLS
serves HTTP/1.1 and HTTP/2 (ALPN), and `streamsql server --config-file` turns both on."""
import asyncio
import base64
import datetime
import hashlib
import ipaddress
import ssl
import subprocess
import sys

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from http_client import Client
from server_process import ServerProcess
from test_endpoints import CREATE_ORDERS

from streamsql.engine import Engine
from streamsql.errors import ConfigError
from streamsql.server.app import Server
from streamsql.server.security import read_properties_file, security_settings, \
    split_properties

UNAUTHORIZED = {"@type": "generic_error", "error_code": 40100, "message": "Unauthorized"}


def basic(user: str, password: str) -> tuple[str, str]:
    return ("authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


@pytest.fixture
def credentials_file(tmp_path):
    path = tmp_path / "password.properties"
    md5 = hashlib.md5(b"s3cret").hexdigest()
    path.write_text("# user: password[,role...]\n"
                    "fred: letmein,admin\n"
                    f"harry: MD5:{md5},admin,developer\n"
                    "tom: guest,viewer\n")
    return path


@pytest.fixture
def self_signed(tmp_path):
    """(certificate path, key path) for 127.0.0.1, made here with the cryptography package."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
            ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "server.crt", tmp_path / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def serve_with(tmp_path, properties, body):
    security = security_settings(properties)

    async def main():
        async with Engine(tmp_path / "data") as engine:
            async with Server(engine, port=0, security=security) as server:
                await body(server, engine)

    asyncio.run(main())


def basic_properties(credentials_file, **extra):
    return {"authentication.method": "BASIC",
            "authentication.basic.credentials.file": str(credentials_file), **extra}


def test_request_without_or_with_wrong_credentials_gets_401_and_changes_nothing(
        tmp_path, credentials_file):
    async def body(server, engine):
        client = Client(server.port)
        anonymous = await client.ksql(CREATE_ORDERS)
        assert anonymous.status == 401
        assert anonymous.json() == UNAUTHORIZED
        assert anonymous.headers["www-authenticate"] == 'Basic realm="KsqlServer-Props"'
        for wrong in (basic("fred", "wrong"), basic("nobody", "letmein"),
                      ("authorization", "Basic not-base64!"), ("authorization", "Bearer x")):
            reply = await client.request("POST", "/ksql", {"ksql": CREATE_ORDERS},
                                         headers=[wrong])
            assert (reply.status, reply.json()) == (401, UNAUTHORIZED)
        streaming = await client.request("POST", "/query-stream",
                                         {"sql": "SELECT * FROM orders EMIT CHANGES;"})
        assert streaming.status == 401

        # nothing was created: not the source, not its topic, not a command
        assert engine.catalog.source("ORDERS") is None
        assert await engine.backend.describe_topic("orders") is None
        shown = await client.request("POST", "/ksql", {"ksql": "SHOW STREAMS;"},
                                     headers=[basic("fred", "letmein")])
        assert (shown.status, shown.json()[0]["streams"]) == (200, [])

    serve_with(tmp_path, basic_properties(credentials_file), body)


def test_valid_credentials_plain_or_md5_run_statements(tmp_path, credentials_file):
    async def body(server, engine):
        client = Client(server.port)
        created = await client.request("POST", "/ksql", {"ksql": CREATE_ORDERS},
                                       headers=[basic("fred", "letmein")])
        assert created.status == 200
        assert engine.catalog.source("ORDERS") is not None
        info = await client.request("GET", "/info", headers=[basic("harry", "s3cret")])
        assert info.status == 200

    serve_with(tmp_path, basic_properties(credentials_file), body)


def test_roles_restrict_who_gets_in_and_skip_paths_need_no_credentials(
        tmp_path, credentials_file):
    async def body(server, engine):
        client = Client(server.port)
        guest = await client.request("GET", "/info", headers=[basic("tom", "guest")])
        assert guest.status == 403
        assert guest.json() == {"@type": "generic_error", "error_code": 40300,
                                "message": "Forbidden"}
        assert (await client.request("GET", "/info", headers=[basic("harry", "s3cret")])
                ).status == 200
        assert (await client.request("GET", "/healthcheck")).status == 200
        assert (await client.request("GET", "/metrics")).status == 401

    serve_with(tmp_path, basic_properties(
        credentials_file, **{"authentication.roles": "admin,developer",
                             "authentication.skip.paths": "/healthcheck"}), body)


def test_h2c_requests_are_authenticated_too(tmp_path, credentials_file):
    async def body(server, engine):
        async with httpx.AsyncClient(http1=False, http2=True, base_url=server.url) as h2c:
            rejected = await h2c.post("/ksql", json={"ksql": CREATE_ORDERS})
            assert (rejected.http_version, rejected.status_code) == ("HTTP/2", 401)
            assert rejected.json() == UNAUTHORIZED
            accepted = await h2c.post("/ksql", json={"ksql": CREATE_ORDERS},
                                      auth=("fred", "letmein"))
            assert accepted.status_code == 200

    serve_with(tmp_path, basic_properties(credentials_file), body)


def test_tls_serves_http1_and_h2_with_a_self_signed_certificate(tmp_path, self_signed):
    cert, key = self_signed

    async def body(server, engine):
        assert server.url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=trust, base_url=server.url) as http1:
            info = await http1.get("/info")
            assert (info.http_version, info.status_code) == ("HTTP/1.1", 200)
        async with httpx.AsyncClient(verify=trust, http2=True, base_url=server.url) as h2:
            created = await h2.post("/ksql", json={"ksql": CREATE_ORDERS})
            assert (created.http_version, created.status_code) == ("HTTP/2", 200)
        async with httpx.AsyncClient(base_url=server.url) as untrusting:
            with pytest.raises(httpx.ConnectError):
                await untrusting.get("/info")

    serve_with(tmp_path, {"ssl.certificate.location": str(cert),
                          "ssl.key.location": str(key)}, body)


def test_misconfiguration_is_refused_before_the_server_starts(tmp_path, credentials_file):
    with pytest.raises(ConfigError, match="needs authentication.basic.credentials.file"):
        security_settings({"authentication.method": "BASIC"})
    with pytest.raises(ConfigError, match="must be NONE or BASIC"):
        security_settings({"authentication.method": "JWT"})
    with pytest.raises(ConfigError, match="Unknown server property 'ssl.keystore.location'"):
        security_settings({"ssl.keystore.location": "/x.jks"})
    with pytest.raises(ConfigError, match="no such file"):
        security_settings({"ssl.certificate.location": str(tmp_path / "missing.pem")})
    obfuscated = tmp_path / "obf.properties"
    obfuscated.write_text("fred: OBF:1w8t1tvf1w261w8v1w1c1tvn1w8x,admin\n")
    with pytest.raises(ConfigError, match="OBF passwords are not supported"):
        security_settings(basic_properties(obfuscated))


def test_one_properties_file_configures_server_and_engine(tmp_path):
    path = tmp_path / "server.properties"
    path.write_text("# a ksqlDB-style server config\n! also a comment\n"
                    "authentication.method = BASIC\nksql.service.id: svc_\n"
                    "auto.offset.reset=earliest\n")
    server, engine = split_properties(read_properties_file(path))
    assert server == {"authentication.method": "BASIC"}
    assert engine == {"ksql.service.id": "svc_", "auto.offset.reset": "earliest"}


def test_server_command_with_config_file_requires_credentials_over_tls(
        tmp_path, credentials_file, self_signed):
    cert, key = self_signed
    config = tmp_path / "server.properties"
    config.write_text(f"authentication.method=BASIC\n"
                      f"authentication.basic.credentials.file={credentials_file}\n"
                      f"ssl.certificate.location={cert}\nssl.key.location={key}\n"
                      f"ksql.service.id=secured_\n")
    server = ServerProcess(tmp_path / "d", "--config-file", str(config))
    try:
        assert server.url.startswith("https://")
        assert any("(BASIC authentication)" in line for line in server.log)
        trust = ssl.create_default_context(cafile=str(cert))
        url = f"{server.url}/info"
        assert httpx.get(url, verify=trust).status_code == 401
        info = httpx.get(url, verify=trust, auth=("fred", "letmein")).json()
        assert info["KsqlServerInfo"]["ksqlServiceId"] == "secured_"
    finally:
        assert server.stop() == 0


def test_server_command_reports_a_bad_config_file_and_exits(tmp_path):
    config = tmp_path / "server.properties"
    config.write_text("authentication.method=BASIC\n")
    finished = subprocess.run(
        [sys.executable, "-m", "streamsql.cli", "server", "--data-dir", str(tmp_path / "d"),
         "--port", "0", "--config-file", str(config)], capture_output=True, text=True,
        timeout=60)
    assert finished.returncode == 1
    assert "authentication.method=BASIC needs authentication.basic.credentials.file" in \
        finished.stderr
