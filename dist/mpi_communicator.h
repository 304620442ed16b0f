// The MPI communicator (MPI_COMM_WORLD), made by world() (communicator.h). In a build without MPI,
// make_mpi_communicator throws and built_with_mpi() is false.
#pragma once
#include <memory>

#include "dist/communicator.h"

namespace nst::dist {

std::unique_ptr<Communicator> make_mpi_communicator();

}  // namespace nst::dist
