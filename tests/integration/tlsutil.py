"""A throw-away PKI for the TLS, mTLS and webhook tests, made with Python's
`cryptography` (independent of curfew's OpenSSL code): a CA, a server
certificate for 127.0.0.1/localhost, client certificates signed by the CA, and
self-signed client certificates. Every file is PEM in the directory given."""
import datetime
import hashlib
import base64
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID


def _name(cn, org="curfew tests"):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path, key):
    Path(path).write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))


def _cert(subject, issuer, pub, sign_key, ca=False, server=False, client=False, days=30):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if client:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return b.sign(sign_key, hashes.SHA256())


def x5t_s256(cert_pem):
    """RFC 8705 x5t#S256: base64url SHA-256 of the DER certificate."""
    der = x509.load_pem_x509_certificate(Path(cert_pem).read_bytes()).public_bytes(
        serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


class Pki:
    def __init__(self, d, name="ca"):
        self.dir = Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_name = _name(f"curfew test {name}")
        self.ca_cert = _cert(self.ca_name, self.ca_name, self.ca_key.public_key(), self.ca_key,
                             ca=True)
        self.ca = self.dir / f"{name}.pem"
        self.ca.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem, cn, server=False, client=False, self_signed=False):
        """Write STEM.crt and STEM.key; returns (cert_path, key_path)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subj = _name(cn)
        if self_signed:
            cert = _cert(subj, subj, key.public_key(), key, client=client, server=server)
        else:
            cert = _cert(subj, self.ca_name, key.public_key(), self.ca_key, server=server,
                         client=client)
        c, k = self.dir / f"{stem}.crt", self.dir / f"{stem}.key"
        c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(k, key)
        return c, k


def name(*pairs):
    """x509.Name from (oid_name, value) pairs in DER order (least specific first):
    name(("O", "x"), ("CN", "y")) is RFC 4514 "CN=y,O=x"."""
    oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "C": NameOID.COUNTRY_NAME}
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in pairs])


def issue_custom(pki, stem, subject, sans=(), signer=None, self_signed=False, days=30,
                 expired=False):
    """A client certificate with any subject and SANs (x509.GeneralName list), signed by
    @signer (a Pki, default @pki), self-signed, or already expired. Writes STEM.crt and
    STEM.key into @pki's directory; returns (cert_path, key_path)."""
    signer = signer or pki
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(days=10) if expired else now - datetime.timedelta(minutes=5)
    end = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=days)
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(subject if self_signed else signer.ca_name).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    cert = b.sign(key if self_signed else signer.ca_key, hashes.SHA256())
    c, k = pki.dir / f"{stem}.crt", pki.dir / f"{stem}.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(k, key)
    return c, k
