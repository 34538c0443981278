"""The close_notify race and its remedies: scenarios on the simulator
(``scenarios``), many seeded runs and sweeps (``runs``), and the same race over
real UDP (``udp``)."""
