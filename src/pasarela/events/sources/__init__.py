"""Where events come from: webhooks (pushed to the gateway), brokers and change data capture
(consumed by the gateway). Broker and CDC clients are imported only when such a source exists."""
