import { DeviceTlv, TlvWriter } from "@impp/protocol";
import type { DeviceRecord } from "@impp/sessions";

/**
 * One DEVICE_TUPLE value (§4.2 [decision]): what the server knows of a device, each TLV present when
 * known. `server` is the edge's public address when known (DeviceRecord keeps only the edge id).
 */
export function deviceTuple(d: DeviceRecord, server: string | undefined): Buffer {
  const w = new TlvWriter(192);
  w.string(DeviceTlv.DEVICE_NAME, d.name);
  if (d.clientName !== undefined) w.string(DeviceTlv.CLIENT_NAME, d.clientName);
  if (d.clientPlatform !== undefined) w.string(DeviceTlv.CLIENT_PLATFORM, d.clientPlatform);
  if (d.clientModel !== undefined) w.string(DeviceTlv.CLIENT_MODEL, d.clientModel);
  if (d.clientArch !== undefined) w.string(DeviceTlv.CLIENT_ARCH, d.clientArch);
  if (d.clientVersion !== undefined) w.string(DeviceTlv.CLIENT_VERSION, d.clientVersion);
  if (d.clientBuild !== undefined) w.string(DeviceTlv.CLIENT_BUILD, d.clientBuild);
  if (d.clientDescription !== undefined) w.string(DeviceTlv.CLIENT_DESCRIPTION, d.clientDescription);
  if (d.remoteAddress !== "") w.string(DeviceTlv.IP_ADDRESS, d.remoteAddress);
  w.u64(DeviceTlv.CONNECTED_AT, Math.max(0, Math.trunc(d.connectedAt)));
  w.u16(DeviceTlv.STATUS, d.status);
  if (d.statusMessage !== undefined) w.string(DeviceTlv.STATUS_MESSAGE, d.statusMessage);
  w.u16list(DeviceTlv.CAPABILITIES, d.capabilities);
  w.u8(DeviceTlv.IS_IDLE, d.isIdle ? 1 : 0);
  w.u8(DeviceTlv.IS_MOBILE, d.isMobile ? 1 : 0);
  w.u8(DeviceTlv.IS_STATUS_AUTOMATIC, d.isStatusAutomatic ? 1 : 0);
  if (server !== undefined && server !== "") w.string(DeviceTlv.SERVER, server);
  return w.finish();
}
