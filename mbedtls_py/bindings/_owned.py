"""``COwner``: the base of every class that owns C memory (``Context``,
``Config``, ``Session``, ``CertificateChain``, ``PrivateKey``, ``Rng``,
``VirtualClock``).  Internal.

Two misuses would otherwise reach freed or missing C state:

- a copy (``copy.copy``, ``copy.deepcopy``, ``pickle``) would share the C
  pointers with the original, so ``close()`` on one frees what the other
  still uses (a shallow copy of a ``Context`` segfaulted); copies are refused;
- an object made without ``__init__`` (``Context.__new__(Context)``) has no C
  state: ``__new__`` puts a :class:`NotInitialised` marker in each of the
  class's ``_C_FIELDS``, which ``__init__`` overwrites, so the first use of
  one raises a clear ``TypeError`` instead of an ``AttributeError`` on a
  private name.  Instance attributes, not class defaults: attribute access on
  initialised objects stays as fast as before (the hot paths read ``_lock``).
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

__all__ = ["COwner", "NotInitialised"]


class NotInitialised:
    """What a C-owning attribute holds before ``__init__`` set it: every use raises."""

    __slots__ = ("_owner",)

    def __init__(self, owner: str) -> None:
        object.__setattr__(self, "_owner", owner)

    def _fail(self, *_: object) -> NoReturn:
        name = object.__getattribute__(self, "_owner")
        raise TypeError(f"this {name} was not initialised ({name}.__init__ was never called, "
                        f"e.g. it was made by {name}.__new__): it owns no C object; "
                        f"create it with {name}(...)")

    def __getattr__(self, _name: str) -> Any:
        self._fail()

    __enter__ = __exit__ = __call__ = __iter__ = __len__ = __index__ = __bool__ = _fail

    def __repr__(self) -> str:
        return f"<not initialised {object.__getattribute__(self, '_owner')}>"


_MARKERS: dict[str, type[NotInitialised]] = {}


def _marker_type(owner: str) -> type[NotInitialised]:
    # One subclass per owning class, named as a phrase: cffi's TypeError for
    # a marker passed as a pointer ("... must be a cdata pointer, not <type
    # name>") then says what is wrong.
    cls = _MARKERS.get(owner)
    if cls is None:
        cls = _MARKERS[owner] = type(f"uninitialised {owner} ({owner}.__init__ was never called)",
                                     (NotInitialised,), {"__slots__": ()})
    return cls


class COwner:
    """Refuses copies and marks the C fields of an object made without ``__init__``."""

    #: The attributes that hold (or guard) C state, set by ``__init__``.
    _C_FIELDS: ClassVar[tuple[str, ...]] = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        obj = super().__new__(cls)
        marker = _marker_type(cls.__name__)(cls.__name__)
        for name in cls._C_FIELDS:
            obj.__dict__[name] = marker
        return obj

    def _initialised(self) -> bool:
        """Whether ``__init__`` set the C fields (for ``__repr__``)."""
        return not any(isinstance(self.__dict__.get(n), NotInitialised) for n in self._C_FIELDS)

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        name = type(self).__name__
        raise TypeError(f"{name} cannot be copied or pickled: it owns C state (Mbed TLS "
                        f"objects) that a copy would share, and closing or freeing one would "
                        f"leave the other pointing at freed memory; create a new {name} "
                        f"instead")
