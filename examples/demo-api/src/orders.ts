// Demo business logic: pricing an order; a negative id throws (the error the demo reports, source-mapped back here).
export interface PricedOrder {
  id: number;
  items: number;
  total: number;
}

export function priceOrder(id: number, stock: number): PricedOrder {
  if (id < 0) {
    throw new RangeError(`order id must be positive, got ${id}`);
  }
  const items = Math.min(stock, 3);
  return { id, items, total: items * 9.5 };
}
