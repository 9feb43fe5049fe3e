// The LAN lab for tests: network namespaces on a bridge, caps, cut/heal, kill, teardown pass or
// fail. The implementation lives in bench/lib/lan.ts so the benchmark's lan-swarm row uses it too.
export * from '../../bench/lib/lan.js';
