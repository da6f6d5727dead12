"""A throwaway L2 fabric: one switch network namespace with a bridge per network, and one
network namespace per endpoint (an instance's interfaces), wired with veth pairs.

Every namespace is unnamed and held by a ``sleep`` that dies with the process that made it
(``PR_SET_PDEATHSIG``) or with :meth:`Fabric.close`: no interface, address or rule ever exists
on the machine. This is the network half of backing the lab cloud with lab hosts; the lab
(``kubesalt.lab``) builds its hosts the same way.
"""

from __future__ import annotations

import os
import subprocess
import time

# setpriv sets the parent-death signal, unshare makes the namespace and execs the keeper.
KEEPER = ["setpriv", "--pdeathsig=KILL", "unshare", "--net", "--", "sleep", "86400"]


def _keeper() -> subprocess.Popen:
    """A process in a new network namespace; returns once it is there (never before: a link
    moved to a process still in the machine's namespace would land on the machine)."""
    own = os.readlink("/proc/self/ns/net")
    process = subprocess.Popen(KEEPER, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{process.pid}/ns/net") != own and _comm(process.pid) == "sleep":
                return process
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"`{' '.join(KEEPER)}` exited with {process.returncode}")
        time.sleep(0.01)
    process.kill()
    raise RuntimeError("a network namespace keeper did not start in 10 s")


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm", encoding="utf-8") as handle:
        return handle.read().strip()


class _Adopted:
    """An endpoint whose namespace belongs to a process the fabric did not start."""

    def __init__(self, pid: int):
        self.pid = pid

    def kill(self) -> None:
        pass

    def wait(self, timeout: float | None = None) -> int:
        return 0


class Fabric:
    def __init__(self):
        self.switch = _keeper()
        self.endpoints: dict[str, subprocess.Popen] = {}
        self._links = 0
        self.run_switch(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"])

    def __enter__(self) -> Fabric:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for process in [*self.endpoints.values(), self.switch]:
            process.kill()
            process.wait(timeout=10)

    def adopt(self, endpoint: str, pid: int) -> None:
        """Make the network namespace of process ``pid`` (a lab host's PID 1, which its owner
        keeps and kills) the endpoint ``endpoint``."""
        self.endpoints[endpoint] = _Adopted(pid)

    def drop(self, endpoint: str) -> None:
        """Forget ``endpoint``; a namespace the fabric made dies with its links."""
        process = self.endpoints.pop(endpoint, None)
        if process is not None:
            process.kill()
            process.wait(timeout=10)

    @staticmethod
    def _nsenter(pid: int, argv: list[str]) -> list[str]:
        return ["nsenter", "-t", str(pid), "-n", "--", *argv]

    def run_switch(self, argv: list[str], input: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            self._nsenter(self.switch.pid, argv),
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"switch: {' '.join(argv)}: {result.stderr.strip()}")
        return result

    def run(self, endpoint: str, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 60)
        return subprocess.run(
            self._nsenter(self.endpoints[endpoint].pid, argv), check=False, **kwargs
        )

    def spawn(self, endpoint: str, argv: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self._nsenter(self.endpoints[endpoint].pid, argv), **kwargs)

    def network(self, name: str) -> None:
        self.run_switch(
            ["ip", "-batch", "-"], input=f"link add br-{name} type bridge\nlink set br-{name} up\n"
        )

    def attach(
        self, endpoint: str, network: str, iface: str, address: str, mac: str | None = None
    ) -> str:
        """Give ``endpoint`` (made on first use) an interface on ``network``; return the bridge
        device of that port (what the firewall matches)."""
        if endpoint not in self.endpoints:
            self.endpoints[endpoint] = _keeper()
            self.run(endpoint, ["ip", "link", "set", "lo", "up"])
        device = f"tap{self._links}"
        self._links += 1
        pid = self.endpoints[endpoint].pid
        batch = [
            f"link add {device} type veth peer name {iface} netns {pid}",
            f"link set {device} master br-{network} up",
        ]
        self.run_switch(["ip", "-batch", "-"], input="\n".join(batch) + "\n")
        commands = [f"addr add {address} dev {iface}", f"link set {iface} up"]
        if mac:
            commands.insert(0, f"link set {iface} address {mac}")
        result = self.run(endpoint, ["ip", "-batch", "-"], input="\n".join(commands) + "\n")
        if result.returncode != 0:
            raise RuntimeError(f"{endpoint}: {result.stderr}")
        return device

    def apply_firewall(self, rules: str) -> None:
        """Replace the switch's filter table (it holds only the lab cloud's chains)."""
        self.run_switch(["iptables-restore"], input=rules)

    def router(
        self,
        name: str,
        external: tuple[str, str],
        internal: list[tuple[str, str]],
        floating: list[tuple[str, str]],
        snat: list[str],
    ) -> None:
        """A Neutron (legacy L3 agent) router as a namespace: ``external`` = (network, gateway
        address/prefix) on ``qg0``; ``internal`` = [(network, subnet gateway address/prefix)]
        on ``qr<n>``; ``floating`` = [(floating IP, fixed IP)]: the floating IP as a /32 on
        ``qg0``, DNAT in, SNAT out (1:1); ``snat`` = subnets masqueraded to the gateway address."""
        ext_network, ext_address = external
        self.attach(name, ext_network, "qg0", ext_address)
        for index, (network, address) in enumerate(internal):
            self.attach(name, network, f"qr{index}", address)
        commands = [f"addr add {fip}/32 dev qg0" for fip, _ in floating]
        if commands:
            result = self.run(name, ["ip", "-batch", "-"], input="\n".join(commands) + "\n")
            if result.returncode != 0:
                raise RuntimeError(f"{name}: {result.stderr}")
        gateway = ext_address.split("/")[0]
        nat = ["*nat"]
        for fip, fixed in floating:
            nat += [
                f"-A PREROUTING -d {fip}/32 -j DNAT --to-destination {fixed}",
                f"-A OUTPUT -d {fip}/32 -j DNAT --to-destination {fixed}",
                f"-A POSTROUTING -s {fixed}/32 -o qg0 -j SNAT --to-source {fip}",
            ]
        nat += [f"-A POSTROUTING -s {cidr} -o qg0 -j SNAT --to-source {gateway}" for cidr in snat]
        nat.append("COMMIT")
        for argv, text in (
            (["sysctl", "-qw", "net.ipv4.ip_forward=1"], None),
            (["iptables-restore"], "\n".join(nat) + "\n"),
        ):
            result = self.run(name, argv, input=text)
            if result.returncode != 0:
                raise RuntimeError(f"{name}: {' '.join(argv)}: {result.stderr}")
