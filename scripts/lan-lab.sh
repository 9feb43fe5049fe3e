#!/usr/bin/env bash
# A LAN on this machine for trying the product across hosts by hand (the same layout the tests
# use, test/helpers/lan.ts): network namespaces joined by a bridge in a namespace of its own, each
# host with an address in a private /24 that exists only inside the lab. Needs root + iproute2.
#
#   scripts/lan-lab.sh up [N]             make hosts h1..hN (default 4); prints the lab id
#   scripts/lan-lab.sh exec ID HOST CMD…  run a command in a host (e.g. node dist/src/cli/main.js peer …)
#   scripts/lan-lab.sh cap ID HOST RATE   cap a host's link both ways (tc tbf, e.g. 100mbit)
#   scripts/lan-lab.sh uncap ID HOST
#   scripts/lan-lab.sh cut ID HOST        unplug the host at the switch; heal plugs it back
#   scripts/lan-lab.sh heal ID HOST
#   scripts/lan-lab.sh kill ID HOST       SIGKILL everything running in the host
#   scripts/lan-lab.sh ls [ID]            the labs (or one lab's hosts and addresses)
#   scripts/lan-lab.sh down ID            kill everything in the lab and remove it
set -euo pipefail
P=p2pl

die() { echo "lan-lab: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (ip netns, veth, tc)"
command -v ip >/dev/null && command -v tc >/dev/null || die "needs iproute2 (apt-get install -y iproute2)"

hostns() { echo "$P-$1-$2"; }
# host HOST's port on the bridge: hN for host number N (h1 = 10.A.B.2)
port_of() {
  local id=$1 host=$2 addr
  addr=$(ip -n "$(hostns "$id" "$host")" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
  echo "h$(( ${addr##*.} - 1 ))"
}

cmd=${1:-}; shift || true
case "$cmd" in
  up)
    n=${1:-4}
    id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
    a=$(( 100 + 16#${id:0:2} % 100 )); b=$(( 16#${id:2:2} ))
    sw=$(hostns "$id" sw)
    ip netns add "$sw"
    ip -n "$sw" link add br0 type bridge
    ip -n "$sw" link set br0 up
    for i in $(seq 1 "$n"); do
      ns=$(hostns "$id" "h$i")
      ip netns add "$ns"
      ip link add eth0 netns "$ns" type veth peer name "h$i" netns "$sw"
      ip -n "$ns" addr add "10.$a.$b.$((i + 1))/24" dev eth0
      ip -n "$ns" link set lo up
      ip -n "$ns" link set eth0 up
      ip -n "$sw" link set "h$i" master br0
      ip -n "$sw" link set "h$i" up
      echo "h$i  10.$a.$b.$((i + 1))  (ip netns exec $ns …)"
    done
    echo "lab id: $id   (scripts/lan-lab.sh down $id removes it)"
    ;;
  exec) id=$1 host=$2; shift 2; exec ip netns exec "$(hostns "$id" "$host")" "$@" ;;
  cap)
    id=$1 host=$2 rate=$3
    args=(root tbf rate "$rate" burst 64kb latency 50ms)
    tc -n "$(hostns "$id" "$host")" qdisc replace dev eth0 "${args[@]}"
    tc -n "$(hostns "$id" sw)" qdisc replace dev "$(port_of "$id" "$host")" "${args[@]}"
    ;;
  uncap)
    id=$1 host=$2
    tc -n "$(hostns "$id" "$host")" qdisc del dev eth0 root 2>/dev/null || true
    tc -n "$(hostns "$id" sw)" qdisc del dev "$(port_of "$id" "$host")" root 2>/dev/null || true
    ;;
  cut) ip -n "$(hostns "$1" sw)" link set "$(port_of "$1" "$2")" down ;;
  heal) ip -n "$(hostns "$1" sw)" link set "$(port_of "$1" "$2")" up ;;
  kill) pids=$(ip netns pids "$(hostns "$1" "$2")"); [ -z "$pids" ] || kill -9 $pids ;;
  ls)
    if [ -n "${1:-}" ]; then
      for ns in $(ip netns list | awk '{print $1}' | grep "^$P-$1-" | grep -v -- '-sw$'); do
        echo "${ns#"$P-$1-"}  $(ip -n "$ns" -4 -o addr show dev eth0 | awk '{print $4}')"
      done
    else
      ip netns list | awk '{print $1}' | grep "^$P-" | cut -d- -f2 | sort -u
    fi
    ;;
  down)
    id=${1:?lab id}
    [[ "$id" =~ ^[0-9a-f]{6}$ ]] || die "lab id: 6 hex digits"
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-$id-"); do
      pids=$(ip netns pids "$ns"); [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
      ip netns del "$ns"
    done
    ;;
  *) sed -n '2,16p' "$0"; [ -z "$cmd" ] || exit 2 ;;
esac
