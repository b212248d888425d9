// Building filter drivers for tests: the fields of NDIS_FILTER_DRIVER_CHARACTERISTICS
// that every test filter fills alike.

import {
  NDIS_FILTER_CHARACTERISTICS_REVISION_1,
  type NDIS_FILTER_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_FILTER_DRIVER_CHARACTERISTICS,
} from '../../src/index.ts';

/** Revision 1, NDIS 6.30, driver version 1.0, the names from `name`; `guid` is its UniqueName. */
export function filterIdentity(
  name: string,
  guid: string,
): Pick<
  NDIS_FILTER_DRIVER_CHARACTERISTICS,
  | 'Header'
  | 'MajorNdisVersion'
  | 'MinorNdisVersion'
  | 'MajorDriverVersion'
  | 'MinorDriverVersion'
  | 'Flags'
  | 'FriendlyName'
  | 'UniqueName'
  | 'ServiceName'
> {
  return {
    Header: {
      Type: NDIS_OBJECT_TYPE_FILTER_DRIVER_CHARACTERISTICS,
      Revision: NDIS_FILTER_CHARACTERISTICS_REVISION_1,
    },
    MajorNdisVersion: 6,
    MinorNdisVersion: 30,
    MajorDriverVersion: 1,
    MinorDriverVersion: 0,
    Flags: 0,
    FriendlyName: name,
    UniqueName: guid,
    ServiceName: name,
  };
}
