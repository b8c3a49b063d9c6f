#include "drivers/archive/archive.h"

namespace strata::drivers::archive {

char ChangeKindLetter(Change::Kind kind) {
  switch (kind) {
    case Change::Kind::kAdd:
      return 'A';
    case Change::Kind::kModify:
      return 'C';
    case Change::Kind::kDelete:
      return 'D';
  }
  return '?';
}

}  // namespace strata::drivers::archive
