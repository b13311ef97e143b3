import { describe, expect, it } from 'vitest';
import { formatBytes, tableNameFrom } from './format';

describe('table names from file names', () => {
  it('keeps what SQL takes unquoted', () => {
    expect(tableNameFrom('Daily Sales (2026).csv')).toBe('daily_sales_2026');
    expect(tableNameFrom('2026-orders.parquet')).toBe('t_2026_orders');
    expect(tableNameFrom('___.csv')).toBe('t_');
    expect(tableNameFrom(`${'a'.repeat(80)}.csv`)).toHaveLength(63);
  });
  it('sizes read as people write them', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MB');
  });
});
