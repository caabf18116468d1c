import type { DeviceType } from '../schema/request-log.js';
import { userAgentInfo } from './user-agent-info.js';

/** Classifies a user agent as `bot`, `tablet`, `mobile` or `desktop` (the default, also for a missing one). Memoised per user agent. */
export function detectDeviceType(userAgent: string | null | undefined): DeviceType {
  return userAgentInfo(userAgent).device_type;
}
