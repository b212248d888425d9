// packet-filter: a lightweight filter (LWF) shaped after the Windows-driver-samples
// ndislwf filter, grown into a small monitoring filter that drops frames by a rule.
// Written against ndis-sim's public API only:
//   ndis-sim run examples/packet-filter.yaml
//   ndis-sim explore examples/packet-filter.yaml --runs 200
//
// - DriverEntry registers the filter driver (every handler: attach, detach, restart,
//   pause, FilterSetModuleOptions, send, send complete, cancel send, receive, return,
//   OID request, OID complete, cancel OID, their three direct counterparts, status, net
//   PnP event, device PnP event),
//   then makes the control device \Device\PacketFilter (NdisRegisterDeviceEx with the
//   filter driver handle) and its link, as ndislwf does. Unload removes both.
// - FilterAttach makes one module record (its lock, a timer, a pool for its own frames),
//   sets its attributes and puts it on the global list under the list lock; FilterDetach
//   takes it off and frees what it made. The counters of a detached module are folded
//   into the driver's totals, so the application reads them after its adapter is gone.
// - The data path drops the frames the rule matches, both ways: a dropped send is
//   completed at once (NDIS_STATUS_FAILURE, with NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL
//   when the send came with NDIS_SEND_FLAGS_DISPATCH_LEVEL); a dropped receive is
//   returned with NdisFReturnNetBufferLists, or, when it came with
//   NDIS_RECEIVE_FLAGS_RESOURCES, only left out of the indication, and the chain is put
//   back as it came before FilterReceiveNetBufferLists returns.
// - FilterAttach reads the heartbeat period (HeartbeatMs) from the module's configuration
//   (NdisOpenConfigurationEx with its NdisFilterHandle; the scenario's filters[].registry).
// - The module sends a heartbeat frame of its own every 50 ms while Running. Every NBL it
//   passes down (the protocols' and its own) is counted in flight; FilterPause stops the
//   heartbeat and pends until the count is 0, and the last send completion completes the
//   pause (NdisFPauseComplete). Receives that come while the module is not running (the
//   miniport runs before the module restarts and after it paused) go straight back.
// - OID requests from above are forwarded as clones (NdisAllocateCloneOidRequest, the
//   original in SourceReserved[0]); the filter's own request (IOCTL_PKTFLT_QUERY_NIC_STATS
//   asks the NIC for OID_GEN_STATISTICS) has SourceReserved[0] NULL, and its completion
//   finishes the application's pended IOCTL instead of climbing the stack.
// - IOCTLs (METHOD_BUFFERED): GET_COUNTERS (eight ULONGs, below), SET_RULE (three ULONGs:
//   direction bits 1 send / 2 receive, least and greatest frame length), QUERY_NIC_STATS
//   (two ULONGs: frames the NIC received and sent), RESTART (NdisFRestartFilter on every
//   running module, ndislwf's IOCTL_FILTER_RESTART_ALL).
//
// `packetFilterWith(bugs)` switches on one mistake at a time (test/trialfilter.test.ts).
import * as N from 'ndis-sim';

type Irp = N.IRP<N.DISPATCH_IO_STACK_LOCATION>;

/** One mistake each, the kind filter writers make; the reference filter has none. */
export interface PacketFilterBugs {
  /** FilterPause leaves the heartbeat timer running, and the heartbeat goes down without a look at the module's state. */
  sendWhilePaused?: boolean;
  /** A dropped receive that came with NDIS_RECEIVE_FLAGS_RESOURCES is returned with NdisFReturnNetBufferLists. */
  returnResourcesNbl?: boolean;
  /** FilterPause returns SUCCESS at once, with the module's own frames still in flight. */
  pauseBeforeDrained?: boolean;
  /** The clone of a forwarded OID request is freed as soon as NdisFOidRequest returns PENDING. */
  freeCloneEarly?: boolean;
  /** FilterDetach forgets to take the module off the global list: a later IOCTL uses its dead NdisFilterHandle. */
  handleAfterDetach?: boolean;
  /** The send path holds the module's lock across NdisFSendNetBufferLists. */
  lockAcrossSend?: boolean;
  /** The completion of the module's own heartbeat is passed up with NdisFSendNetBufferListsComplete. */
  completeOwnSendUp?: boolean;
  /** A RESOURCES indication is split by unlinking the dropped NBLs, and the chain is not put back. */
  keepChainSplit?: boolean;
  /** FilterOidRequestComplete calls NdisFOidRequestComplete for the filter's own request too. */
  completeOwnOidUp?: boolean;
  /** FilterOidRequestComplete completes the original first and frees the clone after. */
  freeCloneAfterComplete?: boolean;
  /** A dropped send is completed with NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL whatever the IRQL. */
  dispatchFlagAlways?: boolean;
  /** A split receive is passed up with the NumberOfNetBufferLists of the whole indication. */
  wrongReceiveCount?: boolean;
  /** The send path puts the module's handle in SourceHandle of the sends it passes on, to know them in its completion. */
  stampSourceHandle?: boolean;
  /** IOCTL_PKTFLT_QUERY_NIC_STATS issues its request still holding the list lock (so the module cannot go). */
  listLockAcrossOid?: boolean;
  /** A receive that comes while the module is not running is returned without a look at NDIS_RECEIVE_FLAGS_RESOURCES. */
  returnWhenPausedIgnoringResources?: boolean;
  /** FilterAttach reads HeartbeatMs and leaves the configuration handle open. */
  configLeftOpen?: boolean;
  /** FilterOidRequest returns NdisFOidRequest's status turned into SUCCESS when the clone pended. */
  successWhilePending?: boolean;
  /** DriverEntry allocates the list lock after NdisFRegisterFilterDriver, trusting FilterAttach to come later. */
  lockAfterRegistration?: boolean;
}

// ndislwf's _NDIS_CONTROL_CODE: CTL_CODE(FILE_DEVICE_PHYSICAL_NETCARD, fn, METHOD_BUFFERED, FILE_ANY_ACCESS).
const ctl = (fn: number): number =>
  N.CTL_CODE(N.FILE_DEVICE_PHYSICAL_NETCARD, fn, N.METHOD_BUFFERED, N.FILE_ANY_ACCESS);
export const IOCTL_PKTFLT_GET_COUNTERS = ctl(0x800);
export const IOCTL_PKTFLT_SET_RULE = ctl(0x801);
export const IOCTL_PKTFLT_QUERY_NIC_STATS = ctl(0x802);
export const IOCTL_PKTFLT_RESTART = ctl(0x803);

/** The counters IOCTL_PKTFLT_GET_COUNTERS returns, ULONGs in this order. */
export const counterNames = [
  'sendPassed', // NBLs from above passed down
  'sendDropped', // NBLs from above dropped by the rule (completed with FAILURE)
  'sendRejected', // NBLs from above completed with PAUSED (module not running)
  'recvPassed', // NBLs from below indicated up
  'recvDropped', // NBLs from below dropped by the rule
  'heartbeats', // the module's own frames sent
  'oidsForwarded', // clones of requests from above passed down
  'modules', // modules attached now
] as const;
type Counter = (typeof counterNames)[number];
type Counters = Record<Exclude<Counter, 'modules'>, number>;
const zeroCounters = (): Counters => ({
  sendPassed: 0,
  sendDropped: 0,
  sendRejected: 0,
  recvPassed: 0,
  recvDropped: 0,
  heartbeats: 0,
  oidsForwarded: 0,
});

const DeviceName = '\\Device\\PacketFilter';
const LinkName = '\\DosDevices\\PacketFilter';
const Tag = 0x746b5046; // 'FPkt'
/** The heartbeat's period when the module's HeartbeatMs parameter is missing. */
const DefaultHeartbeatMs = 50;
const HeartbeatBytes = 60;
const DirSend = 1;
const DirRecv = 2;

/** The drop rule; replaced whole (a pointer swap), never changed in place. */
interface Rule {
  readonly directions: number;
  readonly minLength: number;
  readonly maxLength: number;
}

type State = 'Paused' | 'Restarting' | 'Running' | 'Pausing';

/** MS_FILTER: the FilterModuleContext. */
interface Module {
  readonly handle: N.NDIS_HANDLE;
  readonly miniportName: string;
  /** Guards state, inFlight and the counters. */
  readonly lock: N.NDIS_SPIN_LOCK;
  state: State;
  /** NBLs the module passed down (the protocols' and its own) and not yet back. */
  inFlight: number;
  /** FilterPause returned PENDING: the last completion calls NdisFPauseComplete. */
  pausePending: boolean;
  counters: Counters;
  pool: N.NDIS_HANDLE | null;
  timer: N.NDIS_HANDLE | null;
  /** The heartbeat's period: the module's HeartbeatMs parameter (its instance key). */
  heartbeatMs: number;
  /** The filter's own OID_GEN_STATISTICS request and the IOCTL it answers. */
  statsRequest: N.NDIS_OID_REQUEST | null;
  statsIrp: Irp | null;
}

/** The driver's globals: one set per load (per machine). */
interface Globals {
  driverHandle: N.NDIS_HANDLE | null;
  deviceHandle: N.NDIS_HANDLE | null;
  /** FilterListLock: guards modules, retired and rule. */
  readonly listLock: N.NDIS_SPIN_LOCK;
  readonly modules: Module[];
  /** The counters of modules detached already. */
  readonly retired: Counters;
  rule: Rule | null;
}

const frameLength = (nbl: N.NET_BUFFER_LIST): number => nbl.FirstNetBuffer?.DataLength ?? 0;

function matches(rule: Rule | null, dir: number, nbl: N.NET_BUFFER_LIST): boolean {
  if (rule === null || (rule.directions & dir) === 0) return false;
  const len = frameLength(nbl);
  return len >= rule.minLength && len <= rule.maxLength;
}

function putUlong(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}
const getUlong = (b: Uint8Array, at: number): number =>
  (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

function complete(irp: Irp, status: N.NTSTATUS, information = 0): N.NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  N.IoCompleteRequest(irp, N.IO_NO_INCREMENT);
  return status;
}

function driverEntryOf(bugs: PacketFilterBugs) {
  return (DriverObject: N.DRIVER_OBJECT, RegistryPath: string): N.NDIS_STATUS => {
    void RegistryPath;
    const g: Globals = {
      driverHandle: null,
      deviceHandle: null,
      listLock: new N.NDIS_SPIN_LOCK(),
      modules: [],
      retired: zeroCounters(),
      rule: null,
    };

    // ------------------------------------------------------------ module life

    const attach = (
      NdisFilterHandle: N.NDIS_HANDLE,
      _ctx: Globals,
      p: N.NDIS_FILTER_ATTACH_PARAMETERS,
    ): N.NDIS_STATUS => {
      // ndislwf filters 802.3 only.
      if (p.MiniportMediaType !== N.NdisMedium802_3) return N.NDIS_STATUS_INVALID_PARAMETER;
      const m: Module = {
        handle: NdisFilterHandle,
        miniportName: p.BaseMiniportInstanceName,
        lock: new N.NDIS_SPIN_LOCK(),
        state: 'Paused',
        inFlight: 0,
        pausePending: false,
        counters: zeroCounters(),
        pool: null,
        timer: null,
        heartbeatMs: readHeartbeatMs(NdisFilterHandle),
        statsRequest: null,
        statsIrp: null,
      };
      m.pool = N.NdisAllocateNetBufferListPool(NdisFilterHandle, {
        Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: N.NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 0,
        PoolTag: Tag,
        DataSize: HeartbeatBytes,
      });
      if (m.pool === null) return N.NDIS_STATUS_RESOURCES;
      const t = N.NdisAllocateTimerObject(NdisFilterHandle, {
        Header: {
          Type: N.NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
          Revision: N.NDIS_TIMER_CHARACTERISTICS_REVISION_1,
        },
        AllocationTag: Tag,
        TimerFunction: () => heartbeat(m),
        FunctionContext: m,
      });
      if (t.Status !== N.NDIS_STATUS_SUCCESS) {
        N.NdisFreeNetBufferListPool(m.pool);
        return N.NDIS_STATUS_RESOURCES;
      }
      m.timer = t.TimerObject;
      N.NdisAllocateSpinLock(m.lock);
      const s = N.NdisFSetAttributes(NdisFilterHandle, m, {
        Header: { Type: N.NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES, Revision: N.NDIS_FILTER_ATTRIBUTES_REVISION_1 },
        Flags: 0,
      });
      if (s !== N.NDIS_STATUS_SUCCESS) {
        freeModule(m);
        return N.NDIS_STATUS_FAILURE;
      }
      N.NdisAcquireSpinLock(g.listLock);
      g.modules.push(m);
      N.NdisReleaseSpinLock(g.listLock);
      return N.NDIS_STATUS_SUCCESS;
    };

    /** The module's HeartbeatMs (accessing-configuration-information-for-a-filter-driver). */
    const readHeartbeatMs = (NdisFilterHandle: N.NDIS_HANDLE): number => {
      const c = N.NdisOpenConfigurationEx({
        Header: {
          Type: N.NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
          Revision: N.NDIS_CONFIGURATION_OBJECT_REVISION_1,
        },
        NdisHandle: NdisFilterHandle,
        Flags: 0,
      });
      if (c.Status !== N.NDIS_STATUS_SUCCESS) return DefaultHeartbeatMs;
      const r = N.NdisReadConfiguration(c.ConfigurationHandle!, 'HeartbeatMs', N.NdisParameterInteger);
      if (!bugs.configLeftOpen) N.NdisCloseConfiguration(c.ConfigurationHandle!);
      const v =
        r.Status === N.NDIS_STATUS_SUCCESS
          ? (r.ParameterValue!.ParameterData as { IntegerData: number }).IntegerData
          : 0;
      return v >= 10 && v <= 10_000 ? v : DefaultHeartbeatMs;
    };

    const freeModule = (m: Module): void => {
      if (m.timer !== null) N.NdisFreeTimerObject(m.timer);
      if (m.pool !== null) N.NdisFreeNetBufferListPool(m.pool);
      N.NdisFreeSpinLock(m.lock);
    };

    const detach = (m: Module): void => {
      N.NdisAcquireSpinLock(g.listLock);
      if (!bugs.handleAfterDetach) {
        const i = g.modules.indexOf(m);
        if (i >= 0) g.modules.splice(i, 1);
      }
      for (const k of Object.keys(m.counters) as (keyof Counters)[]) g.retired[k] += m.counters[k];
      m.counters = zeroCounters();
      N.NdisReleaseSpinLock(g.listLock);
      if (m.timer !== null) N.NdisFreeTimerObject(m.timer);
      if (m.pool !== null) N.NdisFreeNetBufferListPool(m.pool);
      m.timer = m.pool = null;
      // The bug forgot the module (it stays on the list), so its memory stays too.
      if (!bugs.handleAfterDetach) N.NdisFreeSpinLock(m.lock);
    };

    const setModuleOptions = (_m: Module): N.NDIS_STATUS => N.NDIS_STATUS_SUCCESS; // keeps the driver's handlers

    const restart = (m: Module, _p: N.NDIS_FILTER_RESTART_PARAMETERS): N.NDIS_STATUS => {
      N.NdisAcquireSpinLock(m.lock);
      m.state = 'Running';
      N.NdisReleaseSpinLock(m.lock);
      N.NdisSetTimerObject(m.timer!, -m.heartbeatMs * 10_000, m.heartbeatMs, null);
      return N.NDIS_STATUS_SUCCESS;
    };

    const pause = (m: Module, _p: N.NDIS_FILTER_PAUSE_PARAMETERS): N.NDIS_STATUS => {
      // Pausing first: a heartbeat that runs from here on sends nothing (NDIS calls the
      // module Pausing from the moment FilterPause is called, and it originates no send).
      N.NdisAcquireSpinLock(m.lock);
      m.state = 'Pausing';
      N.NdisReleaseSpinLock(m.lock);
      // A periodic timer's cancel, at PASSIVE, waits for a callback that is running (R8.6).
      if (!bugs.sendWhilePaused) N.NdisCancelTimerObject(m.timer!);
      N.NdisAcquireSpinLock(m.lock);
      const drained = bugs.pauseBeforeDrained || m.inFlight === 0;
      if (drained) m.state = 'Paused';
      else m.pausePending = true;
      N.NdisReleaseSpinLock(m.lock);
      return drained ? N.NDIS_STATUS_SUCCESS : N.NDIS_STATUS_PENDING;
    };

    // -------------------------------------------------------------- sends

    /** NBLs the module passed down came back: the pause may be done. DISPATCH or PASSIVE. */
    const backFromBelow = (m: Module, count: number): void => {
      N.NdisAcquireSpinLock(m.lock);
      m.inFlight -= count;
      const finish = m.pausePending && m.inFlight === 0;
      if (finish) {
        m.pausePending = false;
        m.state = 'Paused';
      }
      N.NdisReleaseSpinLock(m.lock);
      if (finish) N.NdisFPauseComplete(m.handle);
    };

    const heartbeat = (m: Module): void => {
      N.NdisDprAcquireSpinLock(m.lock);
      const running = m.state === 'Running';
      if (running || bugs.sendWhilePaused) {
        m.inFlight++;
        m.counters.heartbeats++;
      }
      N.NdisDprReleaseSpinLock(m.lock);
      if (!running && !bugs.sendWhilePaused) return;
      const nbl = N.NdisAllocateNetBufferList(m.pool!, 0, 0); // the pool gives it HeartbeatBytes of data
      if (nbl === null) {
        backFromBelow(m, 1);
        return;
      }
      nbl.SourceHandle = m.handle; // ours: it comes back to our completion and no further
      N.NdisFSendNetBufferLists(m.handle, nbl, 0, N.NDIS_SEND_FLAGS_DISPATCH_LEVEL);
    };

    const send = (m: Module, nbls: N.NET_BUFFER_LIST, port: number, flags: number): void => {
      const atDispatch = N.NDIS_TEST_SEND_AT_DISPATCH_LEVEL(flags);
      const completeFlags =
        atDispatch || bugs.dispatchFlagAlways ? N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0;
      if (atDispatch) N.NdisDprAcquireSpinLock(m.lock);
      else N.NdisAcquireSpinLock(m.lock);
      if (m.state !== 'Running') {
        // Pausing or later: every new send goes back at once with NDIS_STATUS_PAUSED.
        let k = 0;
        for (let x: N.NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) {
          x.Status = N.NDIS_STATUS_PAUSED;
          k++;
        }
        m.counters.sendRejected += k;
        if (atDispatch) N.NdisDprReleaseSpinLock(m.lock);
        else N.NdisReleaseSpinLock(m.lock);
        N.NdisFSendNetBufferListsComplete(m.handle, nbls, completeFlags);
        return;
      }
      const rule = g.rule; // one read of the pointer
      let passHead: N.NET_BUFFER_LIST | null = null;
      let passTail: N.NET_BUFFER_LIST | null = null;
      let dropHead: N.NET_BUFFER_LIST | null = null;
      let dropTail: N.NET_BUFFER_LIST | null = null;
      let passed = 0;
      let dropped = 0;
      for (let x: N.NET_BUFFER_LIST | null = nbls; x !== null; ) {
        const next: N.NET_BUFFER_LIST | null = x.Next;
        x.Next = null;
        if (matches(rule, DirSend, x)) {
          x.Status = N.NDIS_STATUS_FAILURE;
          if (dropTail === null) dropHead = x;
          else dropTail.Next = x;
          dropTail = x;
          dropped++;
        } else {
          if (passTail === null) passHead = x;
          else passTail.Next = x;
          passTail = x;
          passed++;
        }
        x = next;
      }
      if (bugs.stampSourceHandle) for (let x = passHead; x !== null; x = x.Next) x.SourceHandle = m.handle;
      m.inFlight += passed;
      m.counters.sendPassed += passed;
      m.counters.sendDropped += dropped;
      if (bugs.lockAcrossSend && passHead !== null)
        N.NdisFSendNetBufferLists(m.handle, passHead, port, flags);
      if (atDispatch) N.NdisDprReleaseSpinLock(m.lock);
      else N.NdisReleaseSpinLock(m.lock);
      if (!bugs.lockAcrossSend && passHead !== null)
        N.NdisFSendNetBufferLists(m.handle, passHead, port, flags);
      if (dropHead !== null) N.NdisFSendNetBufferListsComplete(m.handle, dropHead, completeFlags);
    };

    const sendComplete = (m: Module, nbls: N.NET_BUFFER_LIST, flags: number): void => {
      // Split the chain: the module's own heartbeats are freed here, the rest go up.
      let upHead: N.NET_BUFFER_LIST | null = null;
      let upTail: N.NET_BUFFER_LIST | null = null;
      let k = 0;
      for (let x: N.NET_BUFFER_LIST | null = nbls; x !== null; ) {
        const next: N.NET_BUFFER_LIST | null = x.Next;
        x.Next = null;
        k++;
        if (x.SourceHandle === m.handle && !bugs.completeOwnSendUp) {
          N.NdisFreeNetBufferList(x);
        } else {
          if (upTail === null) upHead = x;
          else upTail.Next = x;
          upTail = x;
        }
        x = next;
      }
      if (upHead !== null) N.NdisFSendNetBufferListsComplete(m.handle, upHead, flags);
      backFromBelow(m, k);
    };

    const cancelSend = (m: Module, CancelId: unknown): void =>
      N.NdisFCancelSendNetBufferLists(m.handle, CancelId);

    // ----------------------------------------------------------- receives

    const receive = (
      m: Module,
      nbls: N.NET_BUFFER_LIST,
      port: number,
      _count: number,
      flags: number,
    ): void => {
      const atDispatch = N.NDIS_TEST_RECEIVE_AT_DISPATCH_LEVEL(flags);
      const canPend = N.NDIS_TEST_RECEIVE_CAN_PEND(flags);
      const returnFlags = atDispatch ? N.NDIS_RETURN_FLAGS_DISPATCH_LEVEL : 0;
      if (atDispatch) N.NdisDprAcquireSpinLock(m.lock);
      else N.NdisAcquireSpinLock(m.lock);
      const running = m.state === 'Running';
      if (!running) {
        if (atDispatch) N.NdisDprReleaseSpinLock(m.lock);
        else N.NdisReleaseSpinLock(m.lock);
        // Not running: back at once (with RESOURCES, returning from here gives them back).
        if (canPend || bugs.returnWhenPausedIgnoringResources)
          N.NdisFReturnNetBufferLists(m.handle, nbls, returnFlags);
        return;
      }
      const rule = g.rule;
      // Keep the chain as it came: with RESOURCES it must be whole again when we return.
      const original: N.NET_BUFFER_LIST[] = [];
      for (let x: N.NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) original.push(x);
      const pass: N.NET_BUFFER_LIST[] = [];
      const drop: N.NET_BUFFER_LIST[] = [];
      for (const x of original) (matches(rule, DirRecv, x) ? drop : pass).push(x);
      m.counters.recvPassed += pass.length;
      m.counters.recvDropped += drop.length;
      if (atDispatch) N.NdisDprReleaseSpinLock(m.lock);
      else N.NdisReleaseSpinLock(m.lock);
      if (drop.length === 0) {
        N.NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, original.length, flags);
        return;
      }
      const link = (list: N.NET_BUFFER_LIST[]): N.NET_BUFFER_LIST | null => {
        for (let i = 0; i < list.length; i++) list[i]!.Next = list[i + 1] ?? null;
        return list[0] ?? null;
      };
      const passHead = link(pass);
      const dropHead = link(drop);
      const count = bugs.wrongReceiveCount ? original.length : pass.length;
      if (passHead !== null) N.NdisFIndicateReceiveNetBufferLists(m.handle, passHead, port, count, flags);
      if (canPend || bugs.returnResourcesNbl) {
        if (dropHead !== null) N.NdisFReturnNetBufferLists(m.handle, dropHead, returnFlags);
      }
      // RESOURCES: the miniport walks its chain again when we return; put it back as it came.
      if (!canPend && !bugs.keepChainSplit) link(original);
    };

    const returnNbls = (m: Module, nbls: N.NET_BUFFER_LIST, flags: number): void =>
      N.NdisFReturnNetBufferLists(m.handle, nbls, flags); // we originate no receives

    // ------------------------------------------------------------------- OIDs

    const oidRequest = (m: Module, request: N.NDIS_OID_REQUEST): N.NDIS_STATUS => {
      const r = N.NdisAllocateCloneOidRequest(m.handle, request, Tag);
      if (r.Status !== N.NDIS_STATUS_SUCCESS || r.ClonedOidRequest === null) return N.NDIS_STATUS_RESOURCES;
      const clone = r.ClonedOidRequest;
      clone.SourceReserved[0] = request; // FILTER_REQUEST_CONTEXT: the original
      N.NdisAcquireSpinLock(m.lock);
      m.counters.oidsForwarded++;
      N.NdisReleaseSpinLock(m.lock);
      const s = N.NdisFOidRequest(m.handle, clone);
      if (s !== N.NDIS_STATUS_PENDING) {
        oidRequestComplete(m, clone, s);
        return N.NDIS_STATUS_PENDING; // completed already with NdisFOidRequestComplete
      }
      if (bugs.freeCloneEarly) N.NdisFreeCloneOidRequest(m.handle, clone);
      return bugs.successWhilePending ? N.NDIS_STATUS_SUCCESS : N.NDIS_STATUS_PENDING;
    };

    const oidRequestComplete = (m: Module, request: N.NDIS_OID_REQUEST, status: N.NDIS_STATUS): void => {
      const original = request.SourceReserved[0] as N.NDIS_OID_REQUEST | null;
      if (original === null) {
        ownRequestComplete(m, request, status);
        if (bugs.completeOwnOidUp) N.NdisFOidRequestComplete(m.handle, request, status);
        return;
      }
      // Copy the answer back (the buffer is shared), free the clone, then complete the original.
      const from = request.DATA.QUERY_INFORMATION;
      const to = original.DATA.QUERY_INFORMATION;
      to.InformationBuffer = from.InformationBuffer;
      to.BytesWritten = from.BytesWritten;
      to.BytesNeeded = from.BytesNeeded;
      original.SupportedRevision = request.SupportedRevision;
      request.SourceReserved[0] = null;
      const free = !bugs.freeCloneEarly;
      if (free && !bugs.freeCloneAfterComplete) N.NdisFreeCloneOidRequest(m.handle, request);
      N.NdisFOidRequestComplete(m.handle, original, status);
      if (free && bugs.freeCloneAfterComplete) N.NdisFreeCloneOidRequest(m.handle, request);
    };

    const cancelOidRequest = (m: Module, RequestId: unknown): void =>
      N.NdisFCancelOidRequest(m.handle, RequestId);

    // Direct OID requests (NDIS 6.1), as ndislwf passes them: a clone down with
    // NdisFDirectOidRequest; a final status completes the original at once.
    const directOidRequest = (m: Module, request: N.NDIS_OID_REQUEST): N.NDIS_STATUS => {
      const r = N.NdisAllocateCloneOidRequest(m.handle, request, Tag);
      if (r.Status !== N.NDIS_STATUS_SUCCESS || r.ClonedOidRequest === null) return N.NDIS_STATUS_RESOURCES;
      const clone = r.ClonedOidRequest;
      clone.SourceReserved[0] = request;
      const s = N.NdisFDirectOidRequest(m.handle, clone);
      if (s !== N.NDIS_STATUS_PENDING) {
        directOidRequestComplete(m, clone, s);
        return N.NDIS_STATUS_PENDING; // completed already with NdisFDirectOidRequestComplete
      }
      return N.NDIS_STATUS_PENDING;
    };

    const directOidRequestComplete = (m: Module, clone: N.NDIS_OID_REQUEST, status: N.NDIS_STATUS): void => {
      const original = clone.SourceReserved[0] as N.NDIS_OID_REQUEST | null;
      if (original === null) return; // the filter originates no direct requests
      const from = clone.DATA.QUERY_INFORMATION;
      const to = original.DATA.QUERY_INFORMATION;
      to.InformationBuffer = from.InformationBuffer;
      to.BytesWritten = from.BytesWritten;
      to.BytesNeeded = from.BytesNeeded;
      clone.SourceReserved[0] = null;
      N.NdisFreeCloneOidRequest(m.handle, clone);
      N.NdisFDirectOidRequestComplete(m.handle, original, status);
    };

    const cancelDirectOidRequest = (m: Module, RequestId: unknown): void =>
      N.NdisFCancelDirectOidRequest(m.handle, RequestId);

    /** The filter's own OID_GEN_STATISTICS is back: answer the application's IOCTL. */
    const ownRequestComplete = (m: Module, request: N.NDIS_OID_REQUEST, status: N.NDIS_STATUS): void => {
      N.NdisAcquireSpinLock(m.lock);
      const irp = m.statsIrp;
      m.statsIrp = null;
      m.statsRequest = null;
      N.NdisReleaseSpinLock(m.lock);
      if (irp === null) return;
      const stats = request.DATA.QUERY_INFORMATION.InformationBuffer as {
        ifHCInUcastPkts?: number;
        ifHCOutUcastPkts?: number;
      } | null;
      if (status !== N.NDIS_STATUS_SUCCESS || stats === null) {
        complete(irp, N.STATUS_DEVICE_NOT_READY);
        return;
      }
      const out = irp.AssociatedIrp.SystemBuffer!;
      putUlong(out, 0, stats.ifHCInUcastPkts ?? 0);
      putUlong(out, 4, stats.ifHCOutUcastPkts ?? 0);
      complete(irp, N.STATUS_SUCCESS, 8);
    };

    // ----------------------------------------------------- status, PnP events

    const status = (m: Module, indication: N.NDIS_STATUS_INDICATION): void => {
      // An answer aimed at the module's own request stops here; the rest go up.
      if (indication.DestinationHandle !== null && indication.DestinationHandle !== undefined) return;
      N.NdisFIndicateStatus(m.handle, indication);
    };
    const netPnPEvent = (m: Module, e: N.NET_PNP_EVENT_NOTIFICATION): N.NDIS_STATUS =>
      N.NdisFNetPnPEvent(m.handle, e);
    const devicePnPEvent = (m: Module, e: N.NET_DEVICE_PNP_EVENT): void =>
      N.NdisFDevicePnPEventNotify(m.handle, e);

    // --------------------------------------------------------- control device

    const snapshot = (): number[] => {
      N.NdisAcquireSpinLock(g.listLock);
      const sum = { ...g.retired };
      for (const m of g.modules) {
        N.NdisDprAcquireSpinLock(m.lock);
        for (const k of Object.keys(sum) as (keyof Counters)[]) sum[k] += m.counters[k];
        N.NdisDprReleaseSpinLock(m.lock);
      }
      const modules = g.modules.length;
      N.NdisReleaseSpinLock(g.listLock);
      return counterNames.map((k) => (k === 'modules' ? modules : sum[k]));
    };

    const queryNicStats = (irp: Irp, outLength: number): N.NTSTATUS => {
      if (outLength < 8) return complete(irp, N.STATUS_BUFFER_TOO_SMALL);
      N.NdisAcquireSpinLock(g.listLock);
      const m = g.modules[0] ?? null;
      let busy = false;
      let request: N.NDIS_OID_REQUEST | null = null;
      if (m !== null) {
        N.NdisDprAcquireSpinLock(m.lock);
        busy = m.statsIrp !== null;
        if (!busy) {
          request = {
            Header: { Type: N.NDIS_OBJECT_TYPE_OID_REQUEST, Revision: N.NDIS_OID_REQUEST_REVISION_1 },
            RequestType: N.NdisRequestQueryInformation,
            PortNumber: 0,
            Timeout: 0,
            RequestId: null,
            RequestHandle: null,
            DATA: N.oidRequestData(N.OID_GEN_STATISTICS, null, N.NDIS_SIZEOF_STATISTICS_INFO_REVISION_1),
            MiniportReserved: [null, null],
            SourceReserved: [null, null], // NULL: our own, not a clone
            SupportedRevision: 0,
            SwitchId: 0,
            VPortId: 0,
            Flags: 0,
          };
          m.statsRequest = request;
          m.statsIrp = irp;
        }
        N.NdisDprReleaseSpinLock(m.lock);
      }
      if (bugs.listLockAcrossOid && m !== null && request !== null) {
        N.IoMarkIrpPending(irp);
        const s0 = N.NdisFOidRequest(m.handle, request);
        N.NdisReleaseSpinLock(g.listLock);
        if (s0 !== N.NDIS_STATUS_PENDING) ownRequestComplete(m, request, s0);
        return N.STATUS_PENDING;
      }
      N.NdisReleaseSpinLock(g.listLock);
      if (m === null) return complete(irp, N.STATUS_DEVICE_REMOVED);
      if (busy || request === null) return complete(irp, N.STATUS_DEVICE_BUSY);
      N.IoMarkIrpPending(irp);
      const s = N.NdisFOidRequest(m.handle, request);
      if (s !== N.NDIS_STATUS_PENDING) ownRequestComplete(m, request, s);
      return N.STATUS_PENDING;
    };

    const restartAll = (irp: Irp): N.NTSTATUS => {
      // Under the list lock (NdisFRestartFilter is <= DISPATCH and only schedules the
      // restart): a module the lock lets us see is not detached meanwhile.
      N.NdisAcquireSpinLock(g.listLock);
      let k = 0;
      for (const m of g.modules) if (N.NdisFRestartFilter(m.handle) === N.NDIS_STATUS_SUCCESS) k++;
      N.NdisReleaseSpinLock(g.listLock);
      const out = irp.AssociatedIrp.SystemBuffer;
      const p = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!;
      if (out !== null && p.OutputBufferLength >= 4) {
        putUlong(out, 0, k);
        return complete(irp, N.STATUS_SUCCESS, 4);
      }
      return complete(irp, N.STATUS_SUCCESS);
    };

    const deviceControl = (_d: N.DEVICE_OBJECT, irp: Irp): N.NTSTATUS => {
      const p = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!;
      const buf = irp.AssociatedIrp.SystemBuffer;
      switch (p.IoControlCode) {
        case IOCTL_PKTFLT_GET_COUNTERS: {
          const values = snapshot();
          if (buf === null || p.OutputBufferLength < values.length * 4)
            return complete(irp, N.STATUS_BUFFER_TOO_SMALL);
          for (let i = 0; i < values.length; i++) putUlong(buf, i * 4, values[i]!);
          return complete(irp, N.STATUS_SUCCESS, values.length * 4);
        }
        case IOCTL_PKTFLT_SET_RULE: {
          if (buf === null || p.InputBufferLength < 12) return complete(irp, N.STATUS_INVALID_PARAMETER);
          const rule: Rule = {
            directions: getUlong(buf, 0),
            minLength: getUlong(buf, 4),
            maxLength: getUlong(buf, 8),
          };
          N.NdisAcquireSpinLock(g.listLock);
          g.rule = rule.directions === 0 ? null : rule;
          N.NdisReleaseSpinLock(g.listLock);
          return complete(irp, N.STATUS_SUCCESS);
        }
        case IOCTL_PKTFLT_QUERY_NIC_STATS:
          return queryNicStats(irp, buf === null ? 0 : p.OutputBufferLength);
        case IOCTL_PKTFLT_RESTART:
          return restartAll(irp);
        default:
          return complete(irp, N.STATUS_INVALID_DEVICE_REQUEST);
      }
    };

    const registerDevice = (): N.NDIS_STATUS => {
      const MajorFunctions: N.DRIVER_DISPATCH[] = [];
      MajorFunctions[N.IRP_MJ_CREATE] = (_d, irp) => complete(irp, N.STATUS_SUCCESS);
      MajorFunctions[N.IRP_MJ_CLEANUP] = (_d, irp) => complete(irp, N.STATUS_SUCCESS);
      MajorFunctions[N.IRP_MJ_CLOSE] = (_d, irp) => complete(irp, N.STATUS_SUCCESS);
      MajorFunctions[N.IRP_MJ_DEVICE_CONTROL] = deviceControl;
      const r = N.NdisRegisterDeviceEx(g.driverHandle!, {
        Header: {
          Type: N.NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: N.NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName,
        SymbolicName: LinkName,
        MajorFunctions,
        ExtensionSize: 0,
      });
      g.deviceHandle = r.NdisDeviceHandle;
      return r.Status;
    };

    // ------------------------------------------------------- registration

    // Before the registration: NDIS may call FilterAttach inside NdisFRegisterFilterDriver.
    if (!bugs.lockAfterRegistration) N.NdisAllocateSpinLock(g.listLock);
    const chars: N.NDIS_FILTER_DRIVER_CHARACTERISTICS<Module, Globals> = {
      Header: {
        Type: N.NDIS_OBJECT_TYPE_FILTER_DRIVER_CHARACTERISTICS,
        Revision: N.NDIS_FILTER_CHARACTERISTICS_REVISION_2,
      },
      MajorNdisVersion: 6,
      MinorNdisVersion: 30,
      MajorDriverVersion: 1,
      MinorDriverVersion: 0,
      Flags: 0,
      FriendlyName: 'Packet filter (ndis-sim example)',
      UniqueName: '{5cbf81bd-5055-47cd-9055-a76b2b4e3698}',
      ServiceName: 'PacketFilter',
      SetFilterModuleOptionsHandler: setModuleOptions,
      AttachHandler: attach,
      DetachHandler: detach,
      RestartHandler: restart,
      PauseHandler: pause,
      SendNetBufferListsHandler: send,
      SendNetBufferListsCompleteHandler: sendComplete,
      CancelSendNetBufferListsHandler: cancelSend,
      ReceiveNetBufferListsHandler: receive,
      ReturnNetBufferListsHandler: returnNbls,
      OidRequestHandler: oidRequest,
      OidRequestCompleteHandler: oidRequestComplete,
      CancelOidRequestHandler: cancelOidRequest,
      DirectOidRequestHandler: directOidRequest,
      DirectOidRequestCompleteHandler: directOidRequestComplete,
      CancelDirectOidRequestHandler: cancelDirectOidRequest,
      StatusHandler: status,
      NetPnPEventHandler: netPnPEvent,
      DevicePnPEventNotifyHandler: devicePnPEvent,
    };
    const r = N.NdisFRegisterFilterDriver(DriverObject, g, chars);
    if (r.Status !== N.NDIS_STATUS_SUCCESS) {
      N.NdisFreeSpinLock(g.listLock);
      return r.Status;
    }
    g.driverHandle = r.NdisFilterDriverHandle;
    if (bugs.lockAfterRegistration) N.NdisAllocateSpinLock(g.listLock);
    const d = registerDevice();
    if (d !== N.NDIS_STATUS_SUCCESS) {
      N.NdisFDeregisterFilterDriver(g.driverHandle!);
      N.NdisFreeSpinLock(g.listLock);
      return d;
    }
    DriverObject.DriverUnload = () => {
      if (g.deviceHandle !== null) N.NdisDeregisterDeviceEx(g.deviceHandle);
      g.deviceHandle = null;
      N.NdisFDeregisterFilterDriver(g.driverHandle!);
      N.NdisFreeSpinLock(g.listLock);
    };
    return N.NDIS_STATUS_SUCCESS;
  };
}

const ioControlCodes = {
  IOCTL_PKTFLT_GET_COUNTERS,
  IOCTL_PKTFLT_SET_RULE,
  IOCTL_PKTFLT_QUERY_NIC_STATS,
  IOCTL_PKTFLT_RESTART,
};

/** The filter with the mistakes `bugs` switches on, under `name`. */
export function packetFilterWith(bugs: PacketFilterBugs, name = 'packet-filter-buggy'): N.DriverModule {
  return {
    name,
    description: `packet-filter with ${Object.keys(bugs).join(', ') || 'no mistakes'}`,
    ioControlCodes,
    load: () => ({ DriverEntry: driverEntryOf(bugs) }),
  };
}

export const packetFilter: N.DriverModule = {
  name: 'packet-filter',
  description:
    'an ndislwf-style filter that drops frames by a rule set over its control device, counts them, and forwards clones of OIDs',
  ioControlCodes,
  load: () => ({ DriverEntry: driverEntryOf({}) }),
};
