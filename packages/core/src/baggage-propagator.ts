import {
  type BaggageEntry,
  type Context,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  baggageEntryMetadataFromString,
  propagation,
} from '@opentelemetry/api';
import { type BaggageMember, formatBaggage, parseBaggage } from './baggage.js';

export const BAGGAGE_HEADER = 'baggage';

/** W3C Baggage as an OpenTelemetry `TextMapPropagator`, properties kept as entry metadata. */
export class BaggagePropagator implements TextMapPropagator {
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    const baggage = propagation.getBaggage(context);
    if (!baggage) return;
    const header = formatBaggage(toMembers(baggage.getAllEntries()));
    if (header) setter.set(carrier, BAGGAGE_HEADER, header);
  }

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    const members = parseBaggage(getter.get(carrier, BAGGAGE_HEADER));
    if (!members) return context;
    // A null prototype: `__proto__` is a valid baggage key and must stay plain data.
    const entries: Record<string, BaggageEntry> = Object.create(null);
    for (const member of members) {
      entries[member.key] = member.properties
        ? { value: member.value, metadata: baggageEntryMetadataFromString(member.properties) }
        : { value: member.value };
    }
    return propagation.setBaggage(context, propagation.createBaggage(entries));
  }

  fields(): string[] {
    return [BAGGAGE_HEADER];
  }
}

function* toMembers(entries: Array<[string, BaggageEntry]>): Iterable<BaggageMember> {
  for (const [key, entry] of entries) {
    const properties = entry.metadata?.toString();
    yield properties ? { key, value: entry.value, properties } : { key, value: entry.value };
  }
}
